package verify_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/verify"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/verify/verifytest"
)

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// FuzzCheck feeds bytes to Check as a manifest, an index, a config and a
// layer, from a memory store. It must not panic, and must not allocate
// more than a bound that grows with the input (sizes claimed by fuzzed
// descriptors are never allocated).
func FuzzCheck(f *testing.F) {
	// Seeds: every blob of the good fixture (index, manifests, configs and
	// layers), and a few shapes.
	fx := verifytest.New(f)
	blobs, err := filepath.Glob(filepath.Join(fx.Index, "blobs", "sha256", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range blobs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schemaVersion":2,"manifests":null}`))
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + digest.FromString("x").Encoded() + `","size":4611686018427387904},"layers":[]}`))
	f.Add([]byte(`{"os":42,"architecture":[],"rootfs":{"diff_ids":{"a":1}},"history":"x"}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(fuzzCheck)
}

func fuzzCheck(t *testing.T, data []byte) {
	ctx := context.Background()
	m := blob.NewMemory()
	push := func(b image.Blob) ocispec.Descriptor {
		if err := m.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil {
			t.Fatal(err)
		}
		return b.Descriptor
	}
	d := push(image.BlobOf("", data))
	as := func(mt string) ocispec.Descriptor { r := d; r.MediaType = mt; return r }
	roots := []ocispec.Descriptor{as(ocispec.MediaTypeImageManifest), as(ocispec.MediaTypeImageIndex)}
	// A manifest whose config is data and whose layers are data, gzip
	// and uncompressed. Not zstd: reproducible.NewReader lets a zstd
	// frame header claim a 1 GiB window, which it then allocates (see
	// TestZstdWindowAllocation).
	layers := []ocispec.Descriptor{as(ocispec.MediaTypeImageLayerGzip), as(ocispec.MediaTypeImageLayer)}
	if bytes.HasPrefix(data, zstdMagic) {
		layers = nil
	}
	mb, err := image.NewManifest(image.Blob{Descriptor: as(ocispec.MediaTypeImageConfig)}, layers, image.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roots = append(roots, push(mb))
	for _, root := range roots {
		for _, fast := range []bool{false, true} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rep, err := verify.Check(ctx, m, root, verify.Options{Fast: fast})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("%s: %v", root.MediaType, err)
			}
			if limit := uint64(64<<20 + 2000*len(data)); after.TotalAlloc-before.TotalAlloc > limit {
				t.Errorf("%s: allocated %d bytes for %d input bytes", root.MediaType, after.TotalAlloc-before.TotalAlloc, len(data))
			}
			for _, p := range rep.Problems {
				if p.Blob == "" || p.What == "" {
					t.Errorf("problem without a place or a description: %#v", p)
				}
			}
		}
	}
}

// TestZstdWindowAllocation: a zstd frame header may claim a window of up to
// 1 GiB; reproducible.NewReader must refuse it rather than allocate it, or a
// 115-byte hostile layer would make verify allocate 1 GiB.
func TestZstdWindowAllocation(t *testing.T) {
	frame := append([]byte{}, zstdMagic...)
	frame = append(frame, 0x00, 20<<3) // no single segment; window 1<<30
	bh := uint32(1) | uint32(100)<<3   // last raw block of 100 bytes
	frame = append(frame, byte(bh), byte(bh>>8), byte(bh>>16))
	frame = append(frame, make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := reproducible.NewReader(bytes.NewReader(frame), reproducible.Zstd)
	if err == nil {
		_, err = bytes.NewBuffer(nil).ReadFrom(r)
		r.Close()
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("a %d-byte zstd frame allocated %d MiB (err %v)", len(frame), alloc>>20, err)
	}
}
