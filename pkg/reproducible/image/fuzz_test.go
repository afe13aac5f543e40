package image_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// fuzzRoots are the media types FuzzResolve serves its input as; the last
// one wraps the input as the config of a manifest.
var fuzzRoots = []string{ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, image.DockerManifestList, image.DockerManifest, ocispec.MediaTypeImageConfig}

// FuzzResolve serves fuzzed bytes as an index, a manifest (OCI or Docker)
// or a config, next to a valid image whose blobs the seeds refer to by
// digest, and checks that Resolve neither panics nor allocates without
// bound, and that whatever it accepts holds the invariants it promises.
func FuzzResolve(f *testing.F) {
	fixture := blob.NewMemory()
	amd := addImage(f, fixture, linuxAMD64, 2)
	arm := addImage(f, fixture, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, 1)
	docker := push(f, fixture, image.DockerConfig, []byte(dockerConfig))
	dockerLayer := ocispec.Descriptor{MediaType: image.DockerLayer, Digest: digest.FromString("docker layer"), Size: 10}
	seed := func(kind uint8, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kind, b)
	}
	index := func(mt string, ds ...ocispec.Descriptor) map[string]any {
		return map[string]any{"schemaVersion": 2, "mediaType": mt, "manifests": ds}
	}
	seed(0, index(ocispec.MediaTypeImageIndex, entry(amd), entry(arm)))
	seed(5, index(ocispec.MediaTypeImageIndex, entry(amd), entry(arm)))
	seed(10, index(ocispec.MediaTypeImageIndex, entry(amd), entry(arm)))
	f.Add(uint8(1), amd.Manifest.Data)
	f.Add(uint8(6), arm.Manifest.Data)
	dm := dockerManifest(docker, dockerLayer)
	seed(3, dm)
	dmBytes, _ := json.Marshal(dm)
	dmDesc := ocispec.Descriptor{MediaType: image.DockerManifest, Digest: digest.FromBytes(dmBytes), Size: int64(len(dmBytes)), Platform: &linuxAMD64}
	fixture.Push(context.Background(), dmDesc, bytes.NewReader(dmBytes))
	seed(2, index(image.DockerManifestList, dmDesc))
	f.Add(uint8(4), amd.Config.Data)
	f.Add(uint8(4), []byte(dockerConfig))
	f.Add(uint8(4), []byte(`{"architecture":"amd64","os":42}`))
	f.Add(uint8(0), []byte(`{"manifests":null}`))
	f.Add(uint8(1), []byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:`+strings.Repeat("0", 64)+`","size":4194305},"layers":[]}`))

	platforms := []*ocispec.Platform{nil, &linuxAMD64, {OS: "linux", Architecture: "arm64"}}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		mt := fuzzRoots[int(kind)%len(fuzzRoots)]
		platform := platforms[int(kind)/len(fuzzRoots)%len(platforms)]
		dataDesc := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
		root := dataDesc
		extra := map[digest.Digest][]byte{dataDesc.Digest: data}
		if mt == ocispec.MediaTypeImageConfig {
			m, err := image.NewManifest(image.Blob{Descriptor: dataDesc, Data: data}, []ocispec.Descriptor{layerDesc("l", 1)}, image.ManifestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			extra[m.Descriptor.Digest] = m.Data
			root = m.Descriptor
		}
		fetcher := blob.FetcherFunc(func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
			if b, ok := extra[d.Digest]; ok {
				return io.NopCloser(bytes.NewReader(b)), nil
			}
			return fixture.Fetch(ctx, d)
		})

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, err := image.Resolve(context.Background(), fetcher, root, platform)
		runtime.ReadMemStats(&after)
		// Each of index, manifest and config is capped at MaxMetadataBytes;
		// decoding costs a small multiple of that.
		if n := after.TotalAlloc - before.TotalAlloc; n > 16*blob.MaxMetadataBytes {
			t.Fatalf("Resolve allocated %d bytes for %d bytes of input", n, len(data))
		}
		if err != nil {
			return
		}
		for _, b := range []image.Blob{img.Manifest, img.Config} {
			if digest.FromBytes(b.Data) != b.Descriptor.Digest || int64(len(b.Data)) != b.Descriptor.Size {
				t.Fatalf("%s: bytes do not match the descriptor", b.Descriptor.Digest)
			}
		}
		if img.Manifest.Descriptor.MediaType != ocispec.MediaTypeImageManifest || img.Config.Descriptor.MediaType != ocispec.MediaTypeImageConfig {
			t.Fatalf("resolved to %s with config %s", img.Manifest.Descriptor.MediaType, img.Config.Descriptor.MediaType)
		}
		if len(img.DiffIDs()) != len(img.Layers) {
			t.Fatalf("%d diff_ids for %d layers", len(img.DiffIDs()), len(img.Layers))
		}
		if img.Platform.OS == "" || img.Platform.Architecture == "" {
			t.Fatalf("accepted a config without os or architecture")
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(img.Manifest.Data, &m); err != nil {
			t.Fatal(err)
		}
		for i, l := range img.Layers {
			if err := blob.ValidateDescriptor(l); err != nil {
				t.Fatalf("layers[%d]: %v", i, err)
			}
			if strings.HasPrefix(l.MediaType, "application/vnd.docker.") {
				t.Fatalf("layers[%d]: Docker type %s survived", i, l.MediaType)
			}
		}
		for i, d := range img.DiffIDs() {
			if err := d.Validate(); err != nil {
				t.Fatalf("diff_ids[%d]: %v", i, err)
			}
		}
		if img.Converted {
			// A converted manifest is ours: it must re-encode identically.
			again, err := image.NewManifest(img.Config, img.Layers, image.ManifestOptions{Annotations: m.Annotations})
			if err != nil || !bytes.Equal(again.Data, img.Manifest.Data) {
				t.Fatalf("converted manifest does not re-encode identically: %v", err)
			}
		}
	})
}
