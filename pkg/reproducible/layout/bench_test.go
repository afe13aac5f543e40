package layout_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// BenchmarkLayout1GiB is issue 3's performance check: assembling a layout
// from existing blobs must not scale with blob size when hard links are
// possible. One image with a single 1 GiB layer (pseudo-random bytes: the
// layout step never looks inside) is written
//
//   - sha256: the layer hashed once, the unit of comparison;
//   - WriteDir: as a layout directory, the layer added with AddFile and so
//     hard-linked;
//   - WriteArchive: as an OCI archive, which must copy (and verify) the
//     bytes: for contrast.
//
// Each reports "x-sha256", its time over the time of hashing the layer once.
// Benchmarks run only under -bench; -short skips this one. It needs 3 GiB of
// free space in the temporary directory.
//
//	go test -run '^$' -bench Layout1GiB -benchtime 5x ./pkg/reproducible/layout
func BenchmarkLayout1GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 1 GiB files")
	}
	const size = 1 << 30
	dir := b.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && st.Bavail*uint64(st.Bsize) < 3*size {
		b.Skipf("%s: less than 3 GiB free", dir)
	}
	layerPath := filepath.Join(dir, "layer.blob")
	desc := writeRandom(b, layerPath, size)
	img := oneLayerImage(b, desc)
	newLayout := func() *layout.Layout {
		l := layout.New()
		l.AddImage(img)
		l.AddFile(desc, layerPath)
		l.Tag(img.Manifest.Descriptor, "v1")
		return l
	}

	// The file was just written, so it is in the page cache: every step
	// below reads from memory, and hashing is CPU-bound, its fastest.
	hashOnce := func() time.Duration {
		start := time.Now()
		f, err := os.Open(layerPath)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			b.Fatal(err)
		}
		if got := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)); got != desc.Digest {
			b.Fatalf("digest %s, want %s", got, desc.Digest)
		}
		return time.Since(start)
	}
	hashTime := min(hashOnce(), hashOnce())

	report := func(b *testing.B, elapsed time.Duration, n int) {
		perOp := float64(elapsed) / float64(n)
		b.ReportMetric(perOp/float64(hashTime), "x-sha256")
		b.ReportMetric(float64(hashTime)/1e6, "sha256-ms")
	}
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			hashOnce()
		}
	})
	b.Run("WriteDir", func(b *testing.B) {
		ctx := context.Background()
		n := 0
		start := time.Now()
		for b.Loop() {
			dst := filepath.Join(dir, fmt.Sprint("layout", n))
			if err := layout.WriteDir(ctx, dst, newLayout()); err != nil {
				b.Fatal(err)
			}
			n++
		}
		report(b, time.Since(start), n)
		b.StopTimer()
		for i := range n {
			os.RemoveAll(filepath.Join(dir, fmt.Sprint("layout", i)))
		}
	})
	b.Run("WriteArchive", func(b *testing.B) {
		ctx := context.Background()
		b.SetBytes(size)
		n := 0
		var elapsed time.Duration
		for b.Loop() {
			dst := filepath.Join(dir, "image.tar")
			start := time.Now()
			if err := layout.WriteArchive(ctx, dst, newLayout()); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
			n++
			os.Remove(dst)
		}
		report(b, elapsed, n)
	})
}

// writeRandom writes n pseudo-random bytes to path and describes them.
func writeRandom(b *testing.B, path string, n int64) ocispec.Descriptor {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{'i', 'm', 'a', 'g', 'e', 'w', 'r', 'i', 't', 'e', 'r'})
	if _, err := io.CopyN(io.MultiWriter(f, h), src, n); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)), Size: n}
}

func oneLayerImage(b *testing.B, layer ocispec.Descriptor) image.Image {
	cf, config, err := image.NewConfig(image.ConfigOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []image.LayerHistory{{DiffID: digest.FromString("not computed: the layout step never decompresses")}},
	})
	if err != nil {
		b.Fatal(err)
	}
	manifest, err := image.NewManifest(config, []ocispec.Descriptor{layer}, image.ManifestOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return image.Image{Manifest: manifest, Config: config, ConfigFile: cf, Layers: []ocispec.Descriptor{layer}, Platform: cf.Platform}
}
