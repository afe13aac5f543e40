package unpack_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// te is one hand-made tar entry: a header and, for regular files, a body.
type te struct {
	h    tar.Header
	body string
}

func file(name, body string, mode int64) te {
	return te{h: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))}, body: body}
}
func dir(name string, mode int64) te {
	return te{h: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
}
func symlink(name, target string) te {
	return te{h: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) te {
	return te{h: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}
func whiteout(name string) te { return file(name, "", 0) }
func fifo(name string) te {
	return te{h: tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: 0o600}}
}

// tarOf writes entries, in the order given, as a plain tar stream. The
// writer checks nothing a hostile archive would not pass (archive/tar
// writes "../x" and "/x" as given).
func tarOf(t testing.TB, entries ...te) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.h
		h.ModTime = time.Unix(1_000_000, 0)
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeLayout writes an uncompressed-layer linux/amd64 image of the given
// layer tars to a new OCI layout tagged "test", and returns its path and
// the image.
func writeLayout(t testing.TB, layers ...[]byte) (string, image.Image) {
	t.Helper()
	l := layout.New()
	var hist []image.LayerHistory
	var descs []ocispec.Descriptor
	for _, b := range layers {
		lb := image.BlobOf(ocispec.MediaTypeImageLayer, b)
		l.AddBlob(lb)
		descs = append(descs, lb.Descriptor)
		hist = append(hist, image.LayerHistory{DiffID: digest.FromBytes(b), CreatedBy: "test"})
	}
	cf, config, err := image.NewConfig(image.ConfigOptions{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: hist})
	if err != nil {
		t.Fatal(err)
	}
	m, err := image.NewManifest(config, descs, image.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := image.Image{Manifest: m, Config: config, ConfigFile: cf, Layers: descs, Platform: cf.Platform}
	l.AddImage(img)
	l.Tag(m.Descriptor, "test")
	dst := filepath.Join(t.TempDir(), "layout")
	if err := layout.WriteDir(context.Background(), dst, l); err != nil {
		t.Fatal(err)
	}
	return dst, img
}

// mustMkdir makes an empty directory for unpacking into.
func mustMkdir(t testing.TB, p string) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func tarHeaderChar(name string, major, minor int64) tar.Header {
	return tar.Header{Typeflag: tar.TypeChar, Name: name, Mode: 0o666, Devmajor: major, Devminor: minor}
}
