package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// A valid tar to cut and corrupt.
func sampleTar(t testing.TB) []byte {
	return makeTar(t,
		tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "etc/hosts", Mode: 0o644}, Body: strings.Repeat("127.0.0.1 localhost\n", 100)},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "etc/motd", Mode: 0o644}, Body: "hi\n"},
	)
}

// TestSpecFileErrors is the "Bad input" list, through the spec file
// as users write it: every case is an error that names the entry, the file
// or path and the field involved, and wraps the sentinel callers branch on.
func TestSpecFileErrors(t *testing.T) {
	type files map[string]string // relative path -> content; "fifo", "socket", "dir" make those
	tests := []struct {
		name    string
		files   files
		spec    any    // marshalled to spec.json, unless raw is set
		raw     string // spec.json's exact bytes
		wantErr []string
		wantIs  []error
	}{
		// Sources.
		{
			name:    "missing source",
			spec:    entries(map[string]any{"type": "file", "path": "/a", "source": "nope"}),
			wantErr: []string{"entries[0]", `"/a"`, "nope", "no such file or directory"},
			wantIs:  []error{layer.ErrBadSource},
		},
		{
			name:    "missing tree",
			spec:    entries(map[string]any{"type": "tree", "path": "/opt", "source": "nope"}),
			wantErr: []string{"entries[0]", "tree", "nope", "no such file or directory"},
			wantIs:  []error{layer.ErrBadSource},
		},
		{
			name:    "missing tar",
			spec:    entries(map[string]any{"type": "tar", "source": "nope.tar"}),
			wantErr: []string{"entries[0]", "nope.tar", "no such file or directory"},
			wantIs:  []error{layer.ErrBadSource},
		},
		{
			name:    "source missing from the entry",
			spec:    entries(map[string]any{"type": "file", "path": "/a"}),
			wantErr: []string{"entries[0]", `"/a"`, "source: missing"},
		},
		{
			name:    "directory where a file was asked",
			files:   files{"d": "dir"},
			spec:    entries(map[string]any{"type": "file", "path": "/a", "source": "d"}),
			wantErr: []string{"entries[0]", "/d is a directory, not a regular file"},
			wantIs:  []error{layer.ErrBadSource},
		},
		{
			name:    "FIFO where a file was asked",
			files:   files{"f": "fifo"},
			spec:    entries(map[string]any{"type": "file", "path": "/a", "source": "f"}),
			wantErr: []string{"entries[0]", "/f is a FIFO, not a regular file"},
			wantIs:  []error{layer.ErrBadSource},
		},
		{
			name:    "socket where a file was asked",
			files:   files{"s": "socket"},
			spec:    entries(map[string]any{"type": "file", "path": "/a", "source": "s"}),
			wantErr: []string{"entries[0]", "/s is a socket, not a regular file"},
			wantIs:  []error{layer.ErrBadSource},
		},
		{
			name:    "device where a file was asked",
			spec:    entries(map[string]any{"type": "file", "path": "/a", "source": "/dev/null"}),
			wantErr: []string{"entries[0]", "/dev/null is a device, not a regular file"},
			wantIs:  []error{layer.ErrBadSource},
		},
		{
			name:    "FIFO inside a tree",
			files:   files{"t/ok": "ok", "t/sub/f": "fifo"},
			spec:    entries(map[string]any{"type": "tree", "path": "/opt", "source": "t"}),
			wantErr: []string{"opt/sub/f", "t/sub/f", "a FIFO cannot be stored from a tree"},
			wantIs:  []error{layer.ErrBadSource},
		},
		{
			name:    "tar that is a directory",
			files:   files{"d": "dir"},
			spec:    entries(map[string]any{"type": "tar", "source": "d"}),
			wantErr: []string{"entries[0]", "/d"},
		},

		// Destinations.
		{
			name:    "empty destination",
			spec:    entries(map[string]any{"type": "file", "path": "", "content": "x"}),
			wantErr: []string{"entries[0]", "empty path"},
			wantIs:  []error{layer.ErrUnsafePath},
		},
		{
			name:    "root as destination",
			spec:    entries(map[string]any{"type": "file", "path": "/", "content": "x"}),
			wantErr: []string{"entries[0]", `"/" names the root itself`},
			wantIs:  []error{layer.ErrUnsafePath},
		},
		{
			name:    "destination climbs out",
			spec:    entries(map[string]any{"type": "file", "path": "../x", "content": "x"}),
			wantErr: []string{"entries[0]", `"../x" climbs out of the root`},
			wantIs:  []error{layer.ErrUnsafePath},
		},
		{
			name:    "destination climbs out later",
			spec:    entries(map[string]any{"type": "dir", "path": "a/../../x"}),
			wantErr: []string{"entries[0]", `"a/../../x" climbs out of the root`},
			wantIs:  []error{layer.ErrUnsafePath},
		},
		{
			name:    "tar prefix climbs out",
			files:   files{"in.tar": string(sampleTar(t))},
			spec:    entries(map[string]any{"type": "tar", "path": "../up", "source": "in.tar"}),
			wantErr: []string{"in.tar", "prefix", `"../up" climbs out of the root`},
			wantIs:  []error{layer.ErrUnsafePath},
		},
		{
			name:    "destination with a whiteout name",
			spec:    entries(map[string]any{"type": "file", "path": "/etc/.wh.passwd", "content": "x"}),
			wantErr: []string{"etc/.wh.passwd", "entries[0]", "reserved for whiteouts"},
			wantIs:  []error{layer.ErrUnsafePath},
		},
		{
			name:    "destination not valid UTF-8",
			raw:     "{\"entries\":[{\"type\":\"file\",\"path\":\"/caf\xe9\",\"content\":\"x\"}]}",
			wantErr: []string{"spec.json", "not valid UTF-8"},
		},
		{
			name:    "tree file name not valid UTF-8",
			files:   files{"t/caf\xe9": "x"},
			spec:    entries(map[string]any{"type": "tree", "path": "/opt", "source": "t"}),
			wantErr: []string{"opt/caf\\xe9", "t/caf\\xe9", "not valid UTF-8"},
			wantIs:  []error{layer.ErrUnsafePath},
		},

		// Entries that contradict each other.
		{
			name: "two entries for one path",
			spec: entries(
				map[string]any{"type": "file", "path": "/usr/bin/app", "content": "1"},
				map[string]any{"type": "file", "path": "usr/bin/app", "content": "2"},
			),
			wantErr: []string{"usr/bin/app", "entries[0]", "entries[1]", "duplicate path"},
			wantIs:  []error{layer.ErrDuplicatePath},
		},
		{
			name:  "a file and a tree member at one path",
			files: files{"t/c.txt": "c"},
			spec: entries(
				map[string]any{"type": "tree", "path": "/opt", "source": "t"},
				map[string]any{"type": "dir", "path": "/x"},
				map[string]any{"type": "file", "path": "/opt/c.txt", "content": "2"},
			),
			wantErr: []string{"opt/c.txt", "entries[0]", "t/c.txt", "entries[2]", "duplicate path"},
			wantIs:  []error{layer.ErrDuplicatePath},
		},
		{
			name: "a file in one entry, a parent directory in another",
			spec: entries(
				map[string]any{"type": "file", "path": "/a/b", "content": "1"},
				map[string]any{"type": "file", "path": "/a/b/c", "content": "2"},
			),
			wantErr: []string{"a/b", "entries[0]", "is a file here but a parent directory of a/b/c", "entries[1]"},
			wantIs:  []error{layer.ErrConflict},
		},
		{
			name: "a symlink as a parent directory",
			spec: entries(
				map[string]any{"type": "symlink", "path": "/lib", "target": "usr/lib"},
				map[string]any{"type": "file", "path": "/lib/x.so", "content": "2"},
			),
			wantErr: []string{"lib", "entries[0]", "is a symlink here but a parent directory of lib/x.so", "entries[1]"},
			wantIs:  []error{layer.ErrConflict},
		},
		{
			name: "hard link to a path not in the layer",
			spec: entries(
				map[string]any{"type": "file", "path": "/a", "content": "1"},
				map[string]any{"type": "hardlink", "path": "/b", "target": "/etc/passwd"},
			),
			wantErr: []string{"b", "entries[1]", "hard link to etc/passwd, which is not in this layer"},
			wantIs:  []error{layer.ErrConflict},
		},
		{
			name: "hard link to a directory",
			spec: entries(
				map[string]any{"type": "dir", "path": "/d"},
				map[string]any{"type": "hardlink", "path": "/b", "target": "/d"},
			),
			wantErr: []string{"b", "entries[1]", "hard link to directory d"},
			wantIs:  []error{layer.ErrConflict},
		},
		{
			name: "hard link cycle",
			spec: entries(
				map[string]any{"type": "hardlink", "path": "/a", "target": "/b"},
				map[string]any{"type": "hardlink", "path": "/b", "target": "/a"},
			),
			wantErr: []string{"hard link cycle"},
			wantIs:  []error{layer.ErrConflict},
		},
		{
			name:    "hard link out of the root",
			spec:    entries(map[string]any{"type": "hardlink", "path": "/b", "target": "../../etc/passwd"}),
			wantErr: []string{"b", "entries[0]", "hard link target", "climbs out of the root"},
			wantIs:  []error{layer.ErrUnsafePath},
		},
		{
			name: "whiteout of a path the layer adds",
			spec: entries(
				map[string]any{"type": "file", "path": "/etc/x", "content": "1"},
				map[string]any{"type": "whiteout", "path": "/etc/x"},
			),
			wantErr: []string{"etc/x", "entries[1]", "whiteout of a path this layer adds", "entries[0]"},
			wantIs:  []error{layer.ErrConflict},
		},

		// Fields.
		{
			name:    "mode 10000",
			raw:     `{"entries":[{"type":"file","path":"/a","content":"x","mode":"10000"}]}`,
			wantErr: []string{"spec.json", `mode "10000"`, "0..07777"},
		},
		{
			name:    "mode as a JSON number",
			raw:     `{"entries":[{"type":"file","path":"/a","content":"x","mode":755}]}`,
			wantErr: []string{"spec.json", "mode must be an octal string"},
		},
		{
			name:    "mode not octal",
			raw:     `{"defaults":{"dirMode":"0789"},"entries":[]}`,
			wantErr: []string{"spec.json", `mode "0789"`},
		},
		{
			name:    "mode on a tree",
			files:   files{"t/x": "x"},
			spec:    entries(map[string]any{"type": "tree", "path": "/opt", "source": "t", "mode": "0755"}),
			wantErr: []string{"entries[0]", "mode: not allowed on a tree"},
		},
		{
			name:    "negative uid",
			spec:    entries(map[string]any{"type": "file", "path": "/a", "content": "x", "uid": -1}),
			wantErr: []string{"a", "entries[0]", "negative uid or gid"},
		},
		{
			name:    "bad mtime",
			spec:    entries(map[string]any{"type": "file", "path": "/a", "content": "x", "mtime": "yesterday"}),
			wantErr: []string{"entries[0]", "mtime", `"yesterday"`, "RFC 3339"},
		},
		{
			name:    "bad default mtime",
			spec:    map[string]any{"defaults": map[string]any{"mtime": "2024"}, "entries": []any{}},
			wantErr: []string{"defaults.mtime", `"2024"`},
		},
		{
			name:    "mtime before 1970",
			spec:    entries(map[string]any{"type": "file", "path": "/a", "content": "x", "mtime": "1969-12-31T23:59:59Z"}),
			wantErr: []string{"a", "entries[0]", "before 1970"},
		},
		{
			name:    "unknown field",
			raw:     `{"entries":[{"type":"file","path":"/a","content":"x","owner":"root"}]}`,
			wantErr: []string{"spec.json", `unknown field "owner"`},
		},
		{
			name:    "unknown type",
			spec:    entries(map[string]any{"type": "socket", "path": "/a"}),
			wantErr: []string{"entries[0]", `type "socket"`},
		},
		{
			name:    "missing type",
			spec:    entries(map[string]any{"path": "/a"}),
			wantErr: []string{"entries[0]", "type: missing"},
		},
		{
			name:    "content and contentBase64",
			spec:    entries(map[string]any{"type": "file", "path": "/a", "content": "x", "contentBase64": "eA=="}),
			wantErr: []string{"entries[0]", "content and contentBase64: give one"},
		},
		{
			name:    "bad base64",
			spec:    entries(map[string]any{"type": "file", "path": "/a", "contentBase64": "!!"}),
			wantErr: []string{"entries[0]", "contentBase64"},
		},
		{
			name:    "empty symlink target",
			spec:    entries(map[string]any{"type": "symlink", "path": "/a"}),
			wantErr: []string{"a", "entries[0]", "symlink with an empty target"},
		},
		{
			name:    "attributes for a path not in the layer",
			spec:    map[string]any{"entries": []any{map[string]any{"type": "dir", "path": "/a"}}, "attributes": map[string]any{"/b": map[string]any{"uid": 1}}},
			wantErr: []string{`attributes["/b"]`, "no entry of this layer has that path"},
		},
		{
			name:    "no platform source",
			spec:    entries(map[string]any{"type": "file", "path": "/a", "sources": map[string]string{"linux/arm64": "x"}}),
			wantErr: []string{"entries[0]", `no source for platform ""`, "linux/arm64"},
		},
		{
			name:    "trailing data",
			raw:     `{"entries":[]} {}`,
			wantErr: []string{"spec.json", "trailing data"},
		},
		{
			name:    "not JSON",
			raw:     `entries: []`,
			wantErr: []string{"spec.json", "invalid character"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				mkdir(t, filepath.Dir(p))
				switch content {
				case "dir":
					mkdir(t, p)
				case "fifo":
					if err := syscall.Mkfifo(p, 0o644); err != nil {
						t.Fatal(err)
					}
				case "socket":
					l, err := net.Listen("unix", p)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { l.Close() })
				default:
					writeFile(t, p, content, 0o644)
				}
			}
			var spec string
			if tt.raw != "" {
				spec = filepath.Join(dir, "spec.json")
				writeFile(t, spec, tt.raw, 0o644)
			} else {
				spec = writeSpec(t, dir, tt.spec)
			}
			s, err := loadSpec(t, spec)
			if err == nil {
				// Some errors surface only when the bytes are written.
				_, err = layer.Build(context.Background(), &bytes.Buffer{}, s, layer.BuildOptions{})
			}
			checkErr(t, err, tt.wantErr, tt.wantIs)
		})
	}
}

func entries(es ...map[string]any) map[string]any {
	return map[string]any{"entries": es}
}

// checkErr fails t unless err contains every substring in want and matches
// every sentinel in is.
func checkErr(t *testing.T, err error, want []string, is []error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", err, w)
		}
	}
	for _, s := range is {
		if !errors.Is(err, s) {
			t.Errorf("error %q\ndoes not match %v", err, s)
		}
	}
	if strings.Contains(err.Error(), "failed to") {
		t.Errorf("error %q says \"failed to\" (STYLE.md)", err)
	}
}

// TestTarInputErrors: a hostile or broken input tar is an error naming the
// tar file and the member, never clamped or skipped.
func TestTarInputErrors(t *testing.T) {
	good := sampleTar(t)
	hdr := func(name string, typ byte, size int64, link string) []byte { return rawHeader(name, typ, size, link) }
	tests := []struct {
		name    string
		data    []byte
		wantErr []string
		wantIs  []error
	}{
		{name: "not a tar", data: []byte(strings.Repeat("this is not a tar archive\n", 40)), wantErr: []string{"in.tar", "invalid tar header"}, wantIs: []error{layer.ErrBadTar}},
		{name: "bad checksum", data: func() []byte { b := bytes.Clone(good); b[0] ^= 1; return b }(), wantErr: []string{"in.tar", "invalid tar header"}, wantIs: []error{layer.ErrBadTar}},
		{name: "truncated in a member's data", data: good[:512+512+100], wantErr: []string{"in.tar", "unexpected EOF"}, wantIs: []error{layer.ErrBadTar}},
		{name: "truncated in a header", data: good[:512+300], wantErr: []string{"in.tar", "unexpected EOF"}, wantIs: []error{layer.ErrBadTar}},
		{name: "truncated at a block boundary", data: good[:512*6], wantErr: []string{"in.tar", "truncated", "end-of-archive"}, wantIs: []error{layer.ErrBadTar}},
		{name: "empty file", data: nil, wantErr: []string{"in.tar", "end-of-archive"}, wantIs: []error{layer.ErrBadTar}},
		{name: "gzip, corrupt", data: func() []byte { b := gzipBytes(t, good); b[len(b)/2] ^= 0xff; return b }(), wantErr: []string{"in.tar"}, wantIs: []error{layer.ErrBadTar}},
		{name: "gzip, truncated", data: gzipBytes(t, good)[:60], wantErr: []string{"in.tar"}, wantIs: []error{layer.ErrBadTar}},
		{name: "gzip, cut after the end-of-archive marker", data: func() []byte { b := gzipBytes(t, good); return b[:len(b)-4] }(), wantErr: []string{"in.tar", "gzip after the end of the archive", "unexpected EOF"}, wantIs: []error{layer.ErrBadTar}},
		{name: "gzip, bad CRC", data: func() []byte { b := gzipBytes(t, good); b[len(b)-6] ^= 1; return b }(), wantErr: []string{"in.tar", "gzip after the end of the archive", "checksum"}, wantIs: []error{layer.ErrBadTar}},
		{name: "zstd, bad checksum", data: func() []byte { b := zstdBytes(t, good); b[len(b)-1] ^= 1; return b }(), wantErr: []string{"in.tar", "CRC check failed"}, wantIs: []error{layer.ErrBadTar}},
		{name: "zstd magic, garbage", data: []byte("\x28\xb5\x2f\xfdgarbage garbage garbage"), wantErr: []string{"in.tar"}, wantIs: []error{layer.ErrBadTar}},
		{name: "absolute name", data: rawTar(hdr("/etc/passwd", '0', 0, "")), wantErr: []string{"in.tar", "/etc/passwd", "is absolute"}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "dot dot", data: rawTar(hdr("../x", '0', 0, "")), wantErr: []string{"in.tar", `"../x" climbs out of the root`}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "dot dot later", data: rawTar(hdr("a/../../x", '0', 0, "")), wantErr: []string{"in.tar", `"a/../../x" climbs out of the root`}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "dot dot directory", data: rawTar(hdr("../", '5', 0, "")), wantErr: []string{"in.tar", `"../" climbs out of the root`}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "dot dot dot directory", data: rawTar(hdr("./../", '5', 0, "")), wantErr: []string{"in.tar", `climbs out of the root`}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "hard link out of the root", data: rawTar(hdr("a", '0', 0, ""), hdr("l", '1', 0, "../../etc/passwd")), wantErr: []string{"in.tar", "l", "hard link target", "climbs out of the root"}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "absolute hard link", data: rawTar(hdr("l", '1', 0, "/etc/passwd")), wantErr: []string{"in.tar", "l", "hard link target", "is absolute"}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "hard link to a missing member", data: rawTar(hdr("l", '1', 0, "etc/passwd")), wantErr: []string{"in.tar", "hard link to etc/passwd, which is not in this layer"}, wantIs: []error{layer.ErrConflict}},
		{name: "symlink out of the root", data: rawTar(hdr("a/", '5', 0, ""), hdr("a/l", '2', 0, "../../etc")), wantErr: []string{"in.tar", "a/l", `symlink target "../../etc" points outside the root`}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "symlink to the root's parent", data: rawTar(hdr("l", '2', 0, "..")), wantErr: []string{"in.tar", "points outside the root"}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "name not valid UTF-8", data: rawTar(hdr("caf\xe9", '0', 0, "")), wantErr: []string{"in.tar", "not valid UTF-8"}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "symlink target not UTF-8", data: rawTar(hdr("l", '2', 0, "caf\xe9")), wantErr: []string{"in.tar", `symlink target "caf\xe9" is not valid UTF-8`}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "duplicate member", data: rawTar(hdr("a", '0', 0, ""), hdr("./a", '0', 0, "")), wantErr: []string{"in.tar", `member "a"`, `member "./a"`, "duplicate path"}, wantIs: []error{layer.ErrDuplicatePath}},
		{name: "sparse file", data: rawTar(rawPAX("GNU.sparse.size", "10", "GNU.sparse.numblocks", "1", "GNU.sparse.map", "0,5"), hdr("s", '0', 5, ""), []byte("hello")), wantErr: []string{"in.tar", "sparse files are not supported"}, wantIs: []error{layer.ErrBadTar}},
		{name: "unknown type", data: rawTar(hdr("v", 'V', 0, "")), wantErr: []string{"in.tar", "unsupported type flag"}, wantIs: []error{layer.ErrBadTar}},
		{name: "whiteout that is a directory", data: rawTar(hdr(".wh.x/", '5', 0, "")), wantErr: []string{"in.tar", "whiteout is a"}, wantIs: []error{layer.ErrBadTar}},
		{name: "opaque marker at the root", data: rawTar(hdr(".wh..wh..opq", '0', 0, "")), wantErr: []string{"in.tar", "opaque marker at the root"}, wantIs: []error{layer.ErrBadTar}},
		{name: "malformed whiteout", data: rawTar(hdr("a/.wh..", '0', 0, "")), wantErr: []string{"in.tar", "malformed whiteout"}, wantIs: []error{layer.ErrUnsafePath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "in.tar"), string(tt.data), 0o644)
			_, err := loadSpec(t, writeSpec(t, dir, entries(map[string]any{"type": "tar", "source": "in.tar"})))
			checkErr(t, err, tt.wantErr, tt.wantIs)
			if !layer.IsBadInput(err) && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("IsBadInput(%q) = false", err)
			}
		})
	}
}

// TestSourceChangesSize: a file that grows or shrinks between the spec and
// the build is an error, not a silently different layer.
func TestSourceChangesSize(t *testing.T) {
	for _, change := range []string{"grows", "shrinks"} {
		t.Run(change, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			writeFile(t, p, "12345", 0o644)
			s, err := loadSpec(t, writeSpec(t, dir, entries(map[string]any{"type": "file", "path": "/f", "source": "f"})))
			if err != nil {
				t.Fatal(err)
			}
			content := "1234567"
			if change == "shrinks" {
				content = "12"
			}
			writeFile(t, p, content, 0o644)
			_, err = layer.Build(context.Background(), &bytes.Buffer{}, s, layer.BuildOptions{Compression: reproducible.Compression{Algorithm: reproducible.None}})
			checkErr(t, err, []string{"f", p, "changed size while the layer was built"}, []error{layer.ErrBadSource})
			var pe *layer.PathError
			if !errors.As(err, &pe) || pe.Path != "f" || pe.Op != "build" {
				t.Errorf("error %#v is not a *PathError for f", err)
			}
		})
	}
}

// TestNewSpecErrors covers what only the Go API can express.
func TestNewSpecErrors(t *testing.T) {
	tests := []struct {
		name    string
		entries []layer.Entry
		wantErr []string
		wantIs  []error
	}{
		{name: "mode 010000", entries: []layer.Entry{{Path: "a", Kind: layer.File, Mode: 0o10000, Origin: "test"}}, wantErr: []string{"a (from test)", "mode 010000 outside 0..07777"}},
		{name: "negative mode", entries: []layer.Entry{{Path: "a", Kind: layer.Dir, Mode: -1}}, wantErr: []string{"outside 0..07777"}},
		{name: "unknown kind", entries: []layer.Entry{{Path: "a", Kind: 0}}, wantErr: []string{"unknown entry kind Kind(0)"}},
		{name: "NUL in path", entries: []layer.Entry{{Path: "a\x00b", Kind: layer.File}}, wantErr: []string{"NUL byte"}, wantIs: []error{layer.ErrUnsafePath}},
		{name: "duplicate", entries: []layer.Entry{{Path: "a", Kind: layer.File, Origin: "one"}, {Path: "/a/", Kind: layer.Dir, Origin: "two"}},
			wantErr: []string{"a (from two)", "also from one"}, wantIs: []error{layer.ErrDuplicatePath}},
		{name: "symlink target not UTF-8", entries: []layer.Entry{{Path: "l", Kind: layer.Symlink, Linkname: "caf\xe9", Origin: "o"}},
			wantErr: []string{"l (from o)", `symlink target "caf\xe9" is not valid UTF-8`}, wantIs: []error{reproducible.ErrHeader}},
		{name: "symlink target with NUL", entries: []layer.Entry{{Path: "l", Kind: layer.Symlink, Linkname: "a\x00"}}, wantErr: []string{"NUL"}},
		{name: "owner name not UTF-8", entries: []layer.Entry{{Path: "f", Kind: layer.File, Uname: "\xff"}}, wantErr: []string{"uname", "not valid UTF-8"}},
		{name: "xattr name with =", entries: []layer.Entry{{Path: "f", Kind: layer.File, Xattrs: map[string]string{"user.a=b": "1"}}}, wantErr: []string{"PAX record name", "SCHILY.xattr.user.a=b"}},
		{name: "whiteout and opaque of one path", entries: []layer.Entry{{Path: "a", Kind: layer.Opaque}, {Path: "a/.wh..opq", Kind: layer.File}},
			wantErr: []string{"reserved for whiteouts"}, wantIs: []error{layer.ErrUnsafePath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := layer.NewSpec(tt.entries, layer.SpecOptions{})
			checkErr(t, err, tt.wantErr, tt.wantIs)
			var pe *layer.PathError
			if !errors.As(err, &pe) {
				t.Errorf("error %q is not a *PathError", err)
			}
		})
	}
}
