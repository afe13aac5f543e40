package layer_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

func TestReader(t *testing.T) {
	t2020 := int64(1580608922) // makeTar's default mtime
	long := strings.Repeat("n", 120)
	tests := []struct {
		name string
		tar  []byte
		want []plainEntry
	}{
		{
			name: "kinds, modes, owners, xattrs",
			tar: makeTar(t,
				tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o40755, Uid: 1, Gid: 2, Uname: "u", Gname: "g"}},
				tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "d/f", Mode: 0o100644, PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v", "comment": "ignored"}}, Body: "data"},
				tarEntry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "d/s", Linkname: "../elsewhere/../f", Mode: 0o777}},
				tarEntry{Header: tar.Header{Typeflag: tar.TypeLink, Name: "d/h", Linkname: "./d/f"}},
				tarEntry{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
				tarEntry{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Mode: 0o660, Devmajor: 8}},
				tarEntry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "run/p", Mode: 0o4600}},
			),
			want: []plainEntry{
				{Path: "d", Kind: layer.Dir, Mode: 0o755, UID: 1, GID: 2, Uname: "u", Gname: "g", ModTime: t2020},
				{Path: "d/f", Kind: layer.File, Mode: 0o644, ModTime: t2020, Xattrs: map[string]string{"user.k": "v"}, Data: "data"},
				{Path: "d/s", Kind: layer.Symlink, Mode: 0o777, ModTime: t2020, Linkname: "../elsewhere/../f"},
				{Path: "d/h", Kind: layer.Hardlink, ModTime: t2020, Linkname: "d/f"},
				{Path: "dev/null", Kind: layer.CharDevice, Mode: 0o666, ModTime: t2020, Devmajor: 1, Devminor: 3},
				{Path: "dev/sda", Kind: layer.BlockDevice, Mode: 0o660, ModTime: t2020, Devmajor: 8},
				{Path: "run/p", Kind: layer.Fifo, Mode: 0o4600, ModTime: t2020},
			},
		},
		{
			name: "root entries and global headers passed over, names cleaned",
			tar:  seedTars(t)["root-entries"],
			want: []plainEntry{{Path: "a/c", Kind: layer.File, Mode: 0o644, ModTime: t2020, Data: "c"}},
		},
		{
			name: "whiteouts and opaque markers",
			tar:  seedTars(t)["whiteouts"],
			want: []plainEntry{
				{Path: "etc", Kind: layer.Dir, Mode: 0o755, ModTime: t2020},
				{Path: "etc/passwd", Kind: layer.Whiteout, ModTime: t2020},
				{Path: "var", Kind: layer.Opaque, ModTime: t2020},
			},
		},
		{
			name: "GNU long names",
			tar: makeTar(t,
				tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "d/" + long, Format: tar.FormatGNU}, Body: "x"},
				tarEntry{Header: tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "d/" + long, Format: tar.FormatGNU}},
			),
			want: []plainEntry{
				{Path: "d/" + long, Kind: layer.File, ModTime: t2020, Data: "x"},
				{Path: "h", Kind: layer.Hardlink, ModTime: t2020, Linkname: "d/" + long},
			},
		},
		{
			name: "old-style regular file (type NUL) and one zero block at the end",
			tar:  rawTar(rawHeader("f", 0, 3, ""), []byte("abc"))[:512*3],
			want: []plainEntry{{Path: "f", Kind: layer.File, Mode: 0o644, Data: "abc"}},
		},
		{
			name: "empty archive",
			tar:  make([]byte, 1024),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(tt.tar), struct{ io.Reader }{bytes.NewReader(tt.tar)}} {
				got, err := readAll(layer.NewReader(r))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, plain(got)); diff != "" {
					t.Errorf("entries (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestReaderStickyError(t *testing.T) {
	r := layer.NewReader(bytes.NewReader(rawTar(rawHeader("ok", '0', 0, ""), rawHeader("../bad", '0', 0, ""), rawHeader("after", '0', 0, ""))))
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, _, err := r.Next()
	var pe *layer.PathError
	if !errors.As(err, &pe) || pe.Path != "../bad" || pe.Op != "read" || !errors.Is(err, layer.ErrUnsafePath) {
		t.Fatalf("Next: %v, want a *PathError for ../bad", err)
	}
	if _, _, err2 := r.Next(); err2 != err {
		t.Errorf("Next after an error: %v, want the same error again", err2)
	}
}

func TestRejectEscapingSymlinks(t *testing.T) {
	data := rawTar(rawHeader("a/b/l", '2', 0, "../../../x"))
	if _, err := readAll(layer.NewReader(bytes.NewReader(data))); err != nil {
		t.Errorf("by default a symlink target is kept verbatim: %v", err)
	}
	r := layer.NewReader(bytes.NewReader(data))
	r.RejectEscapingSymlinks = true
	if _, err := readAll(r); !errors.Is(err, layer.ErrUnsafePath) {
		t.Errorf("RejectEscapingSymlinks: %v, want ErrUnsafePath", err)
	}
	r = layer.NewReader(bytes.NewReader(rawTar(rawHeader("a/b/l", '2', 0, "../../x"), rawHeader("a/b/m", '2', 0, "/etc/passwd"))))
	r.RejectEscapingSymlinks = true
	if _, err := readAll(r); err != nil {
		t.Errorf("targets inside the root, and absolute ones, are allowed: %v", err)
	}
}

// TestReadTarFileCompressed: gzip and zstd inputs read like the plain tar,
// and the decompressed copy leaves no file behind.
func TestReadTarFileCompressed(t *testing.T) {
	plainTar := goldenInputTar(t)
	var zst bytes.Buffer
	zw, err := reproducible.NewWriter(&zst, reproducible.Compression{Algorithm: reproducible.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(plainTar)
	zw.Close()
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	mkdir(t, tmp)
	var want []plainEntry
	for _, in := range []struct {
		name string
		data []byte
	}{{"in.tar", plainTar}, {"in.tar.gz", gzipBytes(t, plainTar)}, {"in.tar.zst", zst.Bytes()}} {
		p := filepath.Join(dir, in.name)
		writeFile(t, p, string(in.data), 0o644)
		es, closer, err := layer.ReadTarFile(p, "pre/fix", tmp)
		if err != nil {
			t.Fatal(err)
		}
		got := plain(es)
		for i := range got {
			got[i].ModTime = 0
		}
		if want == nil {
			want = got
		} else if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: entries differ from the plain tar's (-plain +got):\n%s", in.name, diff)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("%s: files in the temp dir: %v", in.name, left)
		}
		if err := closer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(want) == 0 || want[0].Path != "pre/fix/bin" {
		t.Errorf("entries %v: want them under pre/fix", want)
	}
}

func TestParseMetadata(t *testing.T) {
	s, err := layer.NewSpec([]layer.Entry{{Path: "a", Kind: layer.File, Source: layer.Inline("a")}}, layer.SpecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, m := build(t, s, reproducible.Gzip)
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := layer.ParseMetadata("m.json", b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("metadata round trip (-want +got):\n%s", diff)
	}
	if !bytes.HasSuffix(b, []byte("}\n")) || !bytes.Contains(b, []byte(`"diffID": "sha256:`)) {
		t.Errorf("metadata file:\n%s", b)
	}
	for _, tt := range []struct{ from, to, wantErr string }{
		{`"version": 1`, `"version": 2`, "version: 2, this imagewriter reads 1"},
		{`"diffID": "sha256:`, `"diffID": "sha256:x`, "diffID"},
		{`"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"`, `"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"`, "not an OCI layer type"},
		{`{`, `[`, "m.json"},
	} {
		bad := strings.Replace(string(b), tt.from, tt.to, 1)
		if _, err := layer.ParseMetadata("m.json", []byte(bad)); err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "m.json") {
			t.Errorf("ParseMetadata with %s: %v, want an error naming m.json and %q", tt.to, err, tt.wantErr)
		}
	}
}
