package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// seedTars are the seed corpus of FuzzReader, checked in as
// testdata/tars/<name>.tar; TestFuzzSeeds keeps the files equal to these and
// rewrites them with -update.
func seedTars(t testing.TB) map[string][]byte {
	long := strings.Repeat("x", 150)
	return map[string][]byte{
		"golden-input": goldenInputTar(t),
		"sample":       sampleTar(t),
		"gnu-long-names": makeTar(t,
			tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "d/" + long, Mode: 0o644, Format: tar.FormatGNU}, Body: "gnu"},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "d/" + long, Format: tar.FormatGNU}},
		),
		"pax": makeTar(t,
			tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "ünï/" + long, Mode: 0o4755, Uid: 1 << 22, Uname: "ü",
				PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}}, Body: "pax"},
		),
		"links": makeTar(t,
			tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "b", Mode: 0o600}, Body: "target"},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeLink, Name: "a", Linkname: "b"}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeLink, Name: "c", Linkname: "a"}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "s", Linkname: "/abs/target"}},
		),
		"whiteouts": makeTar(t,
			tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "etc/.wh.passwd"}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "var/.wh..wh..opq"}},
		),
		"devices": makeTar(t,
			tarEntry{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Mode: 0o660, Devmajor: 8}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o600}},
		),
		"root-entries": makeTar(t,
			tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "././", Mode: 0o755}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "global", PAXRecords: map[string]string{"comment": "x"}}},
			tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "./a//b/../c", Mode: 0o100644}, Body: "c"},
		),
		"absolute":         rawTar(rawHeader("/etc/passwd", '0', 0, "")),
		"dotdot":           rawTar(rawHeader("../x", '0', 0, "")),
		"dotdot-dir":       rawTar(rawHeader("../", '5', 0, "")),
		"escaping-symlink": rawTar(rawHeader("a/l", '2', 0, "../../etc")),
		"escaping-link":    rawTar(rawHeader("a", '0', 0, ""), rawHeader("l", '1', 0, "../a")),
		"invalid-utf8":     rawTar(rawHeader("caf\xe9", '0', 0, "")),
		"sparse":           rawTar(rawPAX("GNU.sparse.size", "10", "GNU.sparse.numblocks", "1", "GNU.sparse.map", "0,5"), rawHeader("s", '0', 5, ""), []byte("hello")),
		"no-trailer":       sampleTar(t)[:512*6],
		"truncated":        sampleTar(t)[:1100],
	}
}

// TestFuzzSeeds checks that testdata/tars holds exactly the seeds made by
// seedTars (rewrite with -update).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "tars")
	seeds := seedTars(t)
	if *update {
		os.RemoveAll(dir)
		mkdir(t, dir)
		for name, b := range seeds {
			if err := os.WriteFile(filepath.Join(dir, name+".tar"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(seeds) {
		t.Errorf("%s holds %d tars, seedTars makes %d (run with -update)", dir, len(files), len(seeds))
	}
	for name, want := range seeds {
		got, err := os.ReadFile(filepath.Join(dir, name+".tar"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s.tar differs from what seedTars makes (run with -update): %v", name, err)
		}
	}
}

// readAll reads a tar with layer.Reader. Regular files get their bytes as
// Inline sources.
func readAll(r *layer.Reader) ([]layer.Entry, error) {
	var out []layer.Entry
	for {
		e, _, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if e.Kind == layer.File {
			b, err := io.ReadAll(r)
			if err != nil {
				return out, err
			}
			e.Source = layer.Inline(b)
		}
		out = append(out, *e)
	}
}

// plainEntry is an Entry as the tar holds it, for comparisons: the source's
// bytes instead of the source, no origin, nil for no xattrs.
type plainEntry struct {
	Path     string
	Kind     layer.Kind
	Mode     int64
	UID, GID int
	Uname    string
	Gname    string
	ModTime  int64
	Linkname string
	Devmajor int64
	Devminor int64
	Xattrs   map[string]string
	Data     string
}

func plain(es []layer.Entry) []plainEntry {
	var out []plainEntry
	for _, e := range es {
		p := plainEntry{Path: e.Path, Kind: e.Kind, Mode: e.Mode, UID: e.UID, GID: e.GID, Uname: e.Uname, Gname: e.Gname,
			ModTime: e.ModTime.Unix(), Linkname: e.Linkname, Devmajor: e.Devmajor, Devminor: e.Devminor, Data: sourceBytes(e.Source)}
		if len(e.Xattrs) > 0 {
			p.Xattrs = e.Xattrs
		}
		out = append(out, p)
	}
	return out
}

func sourceBytes(s layer.Source) string {
	if s == nil {
		return ""
	}
	rc, err := s.Open()
	if err != nil {
		return "error: " + err.Error()
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

// fixChecksums recomputes the checksum of every block that looks like a
// USTAR header, so that mutations reach the header fields instead of
// dying at archive/tar's checksum check.
func fixChecksums(data []byte) []byte {
	data = bytes.Clone(data)
	for off := 0; off+512 <= len(data); off += 512 {
		b := data[off : off+512]
		if string(b[257:262]) != "ustar" {
			continue
		}
		copy(b[148:156], "        ")
		sum := 0
		for _, c := range b {
			sum += int(c)
		}
		copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	}
	return data
}

// FuzzReader feeds hostile tars to layer.Reader. Whatever it accepts must
// have clean relative paths, and, once made into a Spec and built, must read
// back as the same entries and rebuild into the same bytes. Reading through
// Seek and without it must agree. Rejections must be bad-input errors.
func FuzzReader(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "tars", "*.tar"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/tars (run TestFuzzSeeds with -update)")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = fixChecksums(data)
		seekR := layer.NewReader(bytes.NewReader(data))
		seekR.RejectEscapingSymlinks = true
		entries, err := readAll(seekR)
		streamR := layer.NewReader(struct{ io.Reader }{bytes.NewReader(data)})
		streamR.RejectEscapingSymlinks = true
		entries2, err2 := readAll(streamR)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("with Seek: %v; without: %v", err, err2)
		}
		if diff := cmp.Diff(plain(entries), plain(entries2)); diff != "" {
			t.Fatalf("entries with Seek and without differ (-seek +stream):\n%s", diff)
		}
		for _, e := range entries {
			if c, err := reproducible.CleanMemberPath(e.Path); err != nil || c != e.Path {
				t.Fatalf("accepted path %q: clean form %q, %v", e.Path, c, err)
			}
			if e.Kind == layer.Hardlink {
				if c, err := reproducible.CleanMemberPath(e.Linkname); err != nil || c != e.Linkname {
					t.Fatalf("accepted hard link target %q: clean form %q, %v", e.Linkname, c, err)
				}
			}
			if e.Mode < 0 || e.Mode > reproducible.MaxMode {
				t.Fatalf("%s: mode %#o", e.Path, e.Mode)
			}
		}
		if err != nil {
			if !layer.IsBadInput(err) {
				t.Fatalf("rejection %q is not a bad-input error", err)
			}
			return
		}

		s, err := layer.NewSpec(entries, layer.SpecOptions{})
		if err != nil {
			var pe *layer.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("NewSpec: %v is not a *PathError", err)
			}
			return
		}
		var blob bytes.Buffer
		m, err := layer.Build(context.Background(), &blob, s, layer.BuildOptions{Compression: reproducible.Compression{Algorithm: reproducible.None}})
		if err != nil {
			t.Fatalf("NewSpec accepted the entries but Build failed: %v", err)
		}
		if m.UncompressedSize != int64(blob.Len()) {
			t.Fatalf("metadata says %d bytes, wrote %d", m.UncompressedSize, blob.Len())
		}
		back, err := readAll(layer.NewReader(bytes.NewReader(blob.Bytes())))
		if err != nil {
			t.Fatalf("reading the built layer: %v", err)
		}
		if diff := cmp.Diff(plain(s.Entries()), plain(back)); diff != "" {
			t.Fatalf("built layer reads back differently (-spec +read):\n%s", diff)
		}
		s2, err := layer.NewSpec(back, layer.SpecOptions{})
		if err != nil {
			t.Fatalf("NewSpec of the layer's own entries: %v", err)
		}
		var blob2 bytes.Buffer
		if _, err := layer.Build(context.Background(), &blob2, s2, layer.BuildOptions{Compression: reproducible.Compression{Algorithm: reproducible.None}}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(blob.Bytes(), blob2.Bytes()) {
			t.Fatalf("rebuilding the layer from its own entries changed its bytes")
		}
	})
}
