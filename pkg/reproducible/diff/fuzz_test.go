package diff_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/diff"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// memSide stores a one-layer image whose layer blob is raw (whatever its
// bytes are: a tar, compressed or not, or garbage) and whose diff_id is
// the digest of its content when it decompresses, else of the raw bytes.
func memSide(t *testing.T, name string, raw []byte) diff.Side {
	t.Helper()
	ctx := context.Background()
	m := blob.NewMemory()
	alg := reproducible.Detect(raw)
	diffID := digest.FromBytes(raw)
	if r, err := reproducible.NewReader(bytes.NewReader(raw), alg); err == nil {
		if d, err := digest.SHA256.FromReader(r); err == nil {
			diffID = d
		}
	}
	lb := image.BlobOf(reproducible.Compression{Algorithm: alg}.MediaType(), raw)
	_, config, err := image.NewConfig(image.ConfigOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []image.LayerHistory{{DiffID: diffID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	man, err := image.NewManifest(config, []ocispec.Descriptor{lb.Descriptor}, image.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []image.Blob{lb, config, man} {
		if err := m.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil {
			t.Fatal(err)
		}
	}
	return diff.Side{Name: name, Fetcher: m, Root: man.Descriptor}
}

// FuzzExplain compares two images whose layers are arbitrary bytes: no
// panic, and two different layers that can both be read are never reported
// as identical.
func FuzzExplain(f *testing.F) {
	gzipOf := func(b []byte) []byte {
		var buf bytes.Buffer
		w, _ := reproducible.NewWriter(&buf, reproducible.Compression{Algorithm: reproducible.Gzip})
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	a := rawTar(f, 0, reg("a"), reg("b"))
	b := rawTar(f, 0, reg("b"), reg("a"))
	f.Add(a, b)
	f.Add(a, gzipOf(a))
	f.Add(gzipOf(a), gzipOf(rawTar(f, 512, reg("./a"))))
	f.Add([]byte("not a tar"), a)
	f.Fuzz(func(t *testing.T, x, y []byte) {
		r, err := diff.Explain(context.Background(), memSide(t, "a", x), memSide(t, "b", y), diff.Options{RecompressLimit: 1 << 16})
		if err != nil {
			return
		}
		if !bytes.Equal(x, y) && len(r.Differences) == 0 {
			t.Errorf("different layers, no difference reported")
		}
	})
}
