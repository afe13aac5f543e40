package reproducible_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

func TestNormalizeHeader(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	mtime := time.Date(2024, 1, 2, 12, 4, 5, 999_999_999, tokyo)
	tests := []struct {
		name    string
		in      tar.Header
		want    tar.Header
		wantErr string
	}{
		{
			name: "file: time to UTC whole seconds, atime and ctime dropped",
			in: tar.Header{Typeflag: tar.TypeReg, Name: "./usr//bin/app", Mode: 0o755, Size: 3, Uid: 1, Gid: 2,
				Uname: "u", Gname: "g", ModTime: mtime, AccessTime: mtime, ChangeTime: mtime, Devmajor: 1, Devminor: 2,
				Linkname: "ignored", Format: tar.FormatGNU},
			want: tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/app", Mode: 0o755, Size: 3, Uid: 1, Gid: 2,
				Uname: "u", Gname: "g", ModTime: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Format: tar.FormatPAX},
		},
		{
			name: "directory gets a trailing slash and no size",
			in:   tar.Header{Typeflag: tar.TypeDir, Name: "./var/lib/", Mode: 0o1777, Size: 10},
			want: tar.Header{Typeflag: tar.TypeDir, Name: "var/lib/", Mode: 0o1777, ModTime: reproducible.Epoch, Format: tar.FormatPAX},
		},
		{
			name: "symlink target verbatim",
			in:   tar.Header{Typeflag: tar.TypeSymlink, Name: "lib", Linkname: "../usr/./lib//", Mode: 0o777},
			want: tar.Header{Typeflag: tar.TypeSymlink, Name: "lib", Linkname: "../usr/./lib//", Mode: 0o777, ModTime: reproducible.Epoch, Format: tar.FormatPAX},
		},
		{
			name: "hard link target cleaned",
			in:   tar.Header{Typeflag: tar.TypeLink, Name: "b", Linkname: "./x//a"},
			want: tar.Header{Typeflag: tar.TypeLink, Name: "b", Linkname: "x/a", ModTime: reproducible.Epoch, Format: tar.FormatPAX},
		},
		{
			name: "device numbers kept on devices",
			in:   tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3},
			want: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: reproducible.Epoch, Format: tar.FormatPAX},
		},
		{
			name: "device numbers dropped on a FIFO",
			in:   tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o600, Devmajor: 1, Devminor: 3},
			want: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o600, ModTime: reproducible.Epoch, Format: tar.FormatPAX},
		},
		{
			name: "binary xattr value kept",
			in:   tar.Header{Typeflag: tar.TypeReg, Name: "f", PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\xff"}},
			want: tar.Header{Typeflag: tar.TypeReg, Name: "f", ModTime: reproducible.Epoch, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\xff"}, Format: tar.FormatPAX},
		},
		{
			name: "PAX records kept",
			in:   tar.Header{Typeflag: tar.TypeReg, Name: "f", PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}},
			want: tar.Header{Typeflag: tar.TypeReg, Name: "f", ModTime: reproducible.Epoch, PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}, Format: tar.FormatPAX},
		},
		{name: "mode too large", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: 0o10000}, wantErr: "f: invalid tar header: mode 010000 outside 0..07777"},
		{name: "mode with type bits", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: 0o100644}, wantErr: "mode 0100644 outside 0..07777"},
		{name: "negative mode", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: -1}, wantErr: "outside 0..07777"},
		{name: "negative uid", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Uid: -1}, wantErr: "negative uid or gid"},
		{name: "before 1970", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", ModTime: time.Unix(-1, 0)}, wantErr: "before 1970"},
		{name: "zero mtime is not the epoch", in: tar.Header{Typeflag: tar.TypeReg, Name: "f"}, wantErr: "mtime 0001-01-01T00:00:00Z is before 1970"},
		{name: "negative size", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Size: -1}, wantErr: "negative size"},
		{name: "empty symlink", in: tar.Header{Typeflag: tar.TypeSymlink, Name: "l"}, wantErr: "symlink with an empty target"},
		{name: "hard link out of the root", in: tar.Header{Typeflag: tar.TypeLink, Name: "l", Linkname: "../etc/passwd"}, wantErr: "hard link target"},
		{name: "unsupported type", in: tar.Header{Typeflag: tar.TypeGNUSparse, Name: "s"}, wantErr: "unsupported type flag"},
		{name: "symlink target not UTF-8", in: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "caf\xe9"}, wantErr: `symlink target "caf\xe9" is not valid UTF-8`},
		{name: "symlink target with NUL", in: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "a\x00b"}, wantErr: "symlink target \"a\\x00b\" holds a NUL byte"},
		{name: "uname not UTF-8", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Uname: "\xff"}, wantErr: "uname"},
		{name: "gname with NUL", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Gname: "a\x00"}, wantErr: "gname"},
		{name: "xattr name with =", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", PAXRecords: map[string]string{"SCHILY.xattr.user.a=b": "v"}}, wantErr: "PAX record name"},
		{name: "empty xattr name", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", PAXRecords: map[string]string{"SCHILY.xattr.": "v"}}, wantErr: "PAX record name"},
		{name: "xattr name not UTF-8", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", PAXRecords: map[string]string{"SCHILY.xattr.user.\xff": "v"}}, wantErr: "not valid UTF-8"},
		{name: "unsafe name", in: tar.Header{Typeflag: tar.TypeReg, Name: "../x"}, wantErr: "climbs out of the root"},
		{name: "absolute name", in: tar.Header{Typeflag: tar.TypeReg, Name: "/x"}, wantErr: "is absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.ModTime.IsZero() && !strings.Contains(tt.name, "zero mtime") {
				tt.in.ModTime = reproducible.Epoch
			}
			in := tt.in
			got, err := reproducible.NormalizeHeader(tt.in)
			if diff := cmp.Diff(in, tt.in); diff != "" {
				t.Errorf("NormalizeHeader changed its input (-before +after):\n%s", diff)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NormalizeHeader: error %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, reproducible.ErrHeader) && !errors.Is(err, reproducible.ErrUnsafePath) {
					t.Errorf("error %q wraps neither ErrHeader nor ErrUnsafePath", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NormalizeHeader (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHeaderFormat checks the PAX policy: a plain USTAR header wherever the
// fields fit, and PAX records only for what does not (long or non-ASCII
// names, sizes of 8 GiB and more, xattrs), never GNU extensions.
func TestHeaderFormat(t *testing.T) {
	long := strings.Repeat("n", 101)
	splittable := strings.Repeat("d/", 60) + "file" // 124 bytes: fits USTAR's prefix+name
	tests := []struct {
		name    string
		in      tar.Header
		wantPAX map[string]string // nil: no PAX header at all
	}{
		{name: "short", in: tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/app", Mode: 0o755, Size: 1}},
		{name: "100 bytes", in: tar.Header{Typeflag: tar.TypeReg, Name: strings.Repeat("n", 100)}},
		{name: "long path split into prefix", in: tar.Header{Typeflag: tar.TypeReg, Name: splittable}},
		{name: "long base name", in: tar.Header{Typeflag: tar.TypeReg, Name: "opt/" + long}, wantPAX: map[string]string{"path": "opt/" + long}},
		{name: "non-ASCII name", in: tar.Header{Typeflag: tar.TypeReg, Name: "é"}, wantPAX: map[string]string{"path": "é"}},
		{name: "long symlink target", in: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "/" + long}, wantPAX: map[string]string{"linkpath": "/" + long}},
		{name: "non-ASCII uname", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Uname: "ü"}, wantPAX: map[string]string{"uname": "ü"}},
		{name: "big uid", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Uid: 1 << 21}, wantPAX: map[string]string{"uid": "2097152"}},
		{name: "8 GiB - 1", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Size: 8<<30 - 1}},
		{name: "8 GiB + 1", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", Size: 8<<30 + 1}, wantPAX: map[string]string{"size": "8589934593"}},
		{name: "xattr", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, wantPAX: map[string]string{"SCHILY.xattr.user.k": "v"}},
		{name: "far future mtime", in: tar.Header{Typeflag: tar.TypeReg, Name: "f", ModTime: time.Unix(1<<33, 0)}, wantPAX: map[string]string{"mtime": "8589934592"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.ModTime.IsZero() {
				tt.in.ModTime = reproducible.Epoch
			}
			h, err := reproducible.NormalizeHeader(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			// Only the headers matter: stop before the data.
			blocks := buf.Bytes()
			typeflag := blocks[156]
			if typeflag == 'L' || typeflag == 'K' || typeflag == 'S' || typeflag == 'g' {
				t.Fatalf("first header has GNU or global type flag %q", typeflag)
			}
			gotPAX := map[string]string(nil)
			if typeflag == tar.TypeXHeader {
				gotPAX = parsePAX(t, blocks)
			}
			if diff := cmp.Diff(tt.wantPAX, gotPAX); diff != "" {
				t.Errorf("PAX records (-want +got):\n%s", diff)
			}
			// The header that follows is USTAR ("ustar\x0000"), not GNU ("ustar  \x00").
			last := blocks[len(blocks)-512:]
			if magic := string(last[257:265]); magic != "ustar\x0000" {
				t.Errorf("magic and version %q, want USTAR's", magic)
			}
			rd := tar.NewReader(bytes.NewReader(blocks)) // Next reads headers only
			back, err := rd.Next()
			if err != nil {
				t.Fatal(err)
			}
			if back.Name != h.Name || back.Size != h.Size || back.Linkname != h.Linkname || back.Uid != h.Uid || !back.ModTime.Equal(h.ModTime) {
				t.Errorf("read back %+v, wrote %+v", back, h)
			}
		})
	}
}

// parsePAX decodes the records of the PAX extended header at the start of b.
func parsePAX(t *testing.T, b []byte) map[string]string {
	t.Helper()
	size := int64(0)
	for _, c := range bytes.TrimRight(b[124:136], "\x00 ") {
		size = size*8 + int64(c-'0')
	}
	recs := string(b[512 : 512+size])
	out := map[string]string{}
	for recs != "" {
		sp := strings.IndexByte(recs, ' ')
		n := 0
		for _, c := range recs[:sp] {
			n = n*10 + int(c-'0')
		}
		kv := recs[sp+1 : n-1]
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
		recs = recs[n:]
	}
	return out
}
