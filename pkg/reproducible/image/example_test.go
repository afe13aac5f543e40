package image_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// A config from scratch with one layer: the same inputs give the same
// ImageID everywhere.
func ExampleNewConfig() {
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	_, config, err := image.NewConfig(image.ConfigOptions{
		Platform:  ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Created:   &created,
		Overrides: image.Overrides{Entrypoint: []string{"/hello"}, Env: []string{"LANG=C.UTF-8"}},
		Layers:    []image.LayerHistory{{DiffID: digest.FromString("layer tar"), CreatedBy: "hello"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(config.Data))
	fmt.Println("ImageID", config.Descriptor.Digest)
	// Output:
	// {"created":"2024-01-02T03:04:05Z","architecture":"amd64","os":"linux","config":{"Env":["LANG=C.UTF-8"],"Entrypoint":["/hello"]},"rootfs":{"type":"layers","diff_ids":["sha256:7032f8a71fd3f4e90f2ddc78a90b6987443002b76c910693c388529dc22daf2b"]},"history":[{"created":"2024-01-02T03:04:05Z","created_by":"hello"}]}
	// ImageID sha256:fbcbd7b428c48097005a6ebb2e6d947f08dc150cc90cab41bbdbd6a4d3c036ab
}

// Inheriting from a base follows Dockerfile semantics.
func ExampleNewConfig_base() {
	base := &image.ConfigFile{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config: image.ImageConfig{ImageConfig: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/bin:/bin", "HOME=/root"},
			Entrypoint: []string{"/bin/sh", "-c"},
			Cmd:        []string{"echo base"},
		}},
	}
	cf, _, err := image.NewConfig(image.ConfigOptions{
		Base:      base,
		Platform:  base.Platform,
		Overrides: image.Overrides{Env: []string{"PATH=/app/bin:/usr/bin:/bin"}, Entrypoint: []string{"/app/bin/server"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(cf.Config.Env)
	fmt.Println(cf.Config.Entrypoint, cf.Config.Cmd == nil)
	// Output:
	// [PATH=/app/bin:/usr/bin:/bin HOME=/root]
	// [/app/bin/server] true
}

func ExampleChainIDs() {
	for _, id := range image.ChainIDs([]digest.Digest{digest.FromString("a"), digest.FromString("b")}) {
		fmt.Println(id)
	}
	// Output:
	// sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb
	// sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676
}

func ExampleParsePlatform() {
	for _, s := range []string{"linux/arm64/v8", "linux/x86_64"} {
		p, err := image.ParsePlatform(s)
		fmt.Printf("%+v %v\n", p, err != nil)
	}
	// Output:
	// {Architecture:arm64 OS:linux OSVersion: OSFeatures:[] Variant:v8} false
	// {Architecture: OS: OSVersion: OSFeatures:[] Variant:} true
}

// Index entries are sorted by platform, whatever the input order.
func ExampleNewIndex() {
	var ds []ocispec.Descriptor
	for _, s := range []string{"linux/s390x", "linux/arm64/v8", "linux/amd64"} {
		p, _ := image.ParsePlatform(s)
		ds = append(ds, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s), Size: 1, Platform: &p})
	}
	idx, err := image.NewIndex(ds, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(idx.Descriptor.Digest)
	// Output:
	// sha256:44ae8ef398a07fdafcfea20d7a7fc6bb43d40ff83362f1abeaed12274f639521
}

// Resolve reads an image from any blob.Fetcher: here a store in memory
// holding an index of one platform.
func ExampleResolve() {
	ctx := context.Background()
	store := blob.NewMemory()
	put := func(b image.Blob) {
		if err := store.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil {
			panic(err)
		}
	}
	platform := ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("gzip blob"), Size: 9}
	_, config, _ := image.NewConfig(image.ConfigOptions{Platform: platform, Layers: []image.LayerHistory{{DiffID: digest.FromString("tar")}}})
	manifest, _ := image.NewManifest(config, []ocispec.Descriptor{layer}, image.ManifestOptions{})
	entry := manifest.Descriptor
	entry.Platform = &platform
	index, _ := image.NewIndex([]ocispec.Descriptor{entry}, nil)
	put(config)
	put(manifest)
	put(index)

	img, err := image.Resolve(ctx, store, index.Descriptor, &ocispec.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		panic(err)
	}
	fmt.Println(image.PlatformString(img.Platform), len(img.Layers), img.Manifest.Descriptor.Digest == manifest.Descriptor.Digest)
	// Output:
	// linux/arm64/v8 1 true
}
