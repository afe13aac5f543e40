package layout_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// exampleImage is an image of one layer whose blob is the file layerPath.
func exampleImage(layerPath string) (image.Image, ocispec.Descriptor) {
	data := []byte("not really a tar, but the layout does not care")
	if err := os.WriteFile(layerPath, data, 0o644); err != nil {
		panic(err)
	}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(data), Size: int64(len(data))}
	cf, config, err := image.NewConfig(image.ConfigOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []image.LayerHistory{{DiffID: layer.Digest}},
	})
	if err != nil {
		panic(err)
	}
	manifest, err := image.NewManifest(config, []ocispec.Descriptor{layer}, image.ManifestOptions{})
	if err != nil {
		panic(err)
	}
	return image.Image{Manifest: manifest, Config: config, ConfigFile: cf, Layers: []ocispec.Descriptor{layer}, Platform: cf.Platform}, layer
}

// A layout directory: the layer file is hard-linked in, the manifest and
// config are written from their bytes.
func ExampleWriteDir() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	img, layer := exampleImage(filepath.Join(dir, "layer.tar"))

	l := layout.New()
	l.AddImage(img)
	l.AddFile(layer, filepath.Join(dir, "layer.tar"))
	l.Tag(img.Manifest.Descriptor, "v1")
	out := filepath.Join(dir, "layout")
	if err := layout.WriteDir(context.Background(), out, l); err != nil {
		panic(err)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	index, _ := os.ReadFile(filepath.Join(out, "index.json"))
	fmt.Println(digest.FromBytes(index))
	// Output:
	// blobs
	// index.json
	// oci-layout
	// sha256:57b24ee090710a2c4a1ff175b6a58205c401647ab65a0af1a90e103fe089ae44
}

// The same layout as an OCI archive and as a Docker archive: both are the
// same bytes wherever and whenever they are written.
func ExampleWriteArchive() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	img, layer := exampleImage(filepath.Join(dir, "layer.tar"))
	l := layout.New()
	l.AddImage(img)
	l.AddFile(layer, filepath.Join(dir, "layer.tar"))
	l.Tag(img.Manifest.Descriptor, "v1")

	ctx := context.Background()
	if err := layout.WriteArchive(ctx, filepath.Join(dir, "oci.tar"), l); err != nil {
		panic(err)
	}
	if err := layout.WriteDockerArchive(ctx, filepath.Join(dir, "docker.tar"), l, img, []string{"example.com/app:v1"}); err != nil {
		panic(err)
	}
	for _, name := range []string{"oci.tar", "docker.tar"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		fmt.Println(name, digest.FromBytes(b))
	}
	// Output:
	// oci.tar sha256:ebed81caecb31142327f677f862d1b1ad7ede74ef93d02ce9ee1fe4fa53ca7b9
	// docker.tar sha256:458af2011579bb58ccfb32fffe981647863c05f410a8d4187757836ee56613ed
}

// Open reads any of the three forms; FindRef and image.Resolve then give the
// image, its blobs verified as they are read.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	img, layer := exampleImage(filepath.Join(dir, "layer.tar"))
	l := layout.New()
	l.AddImage(img)
	l.AddFile(layer, filepath.Join(dir, "layer.tar"))
	l.Tag(img.Manifest.Descriptor, "v1")
	ctx := context.Background()
	p := filepath.Join(dir, "docker.tar")
	if err := layout.WriteDockerArchive(ctx, p, l, img, []string{"example.com/app:v1"}); err != nil {
		panic(err)
	}

	src, err := layout.Open(ctx, p)
	if err != nil {
		panic(err)
	}
	defer src.Close()
	root, err := src.FindRef("example.com/app:v1")
	if err != nil {
		panic(err)
	}
	got, err := image.Resolve(ctx, src, root, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(src.Format, image.PlatformString(got.Platform), got.Manifest.Descriptor.Digest == img.Manifest.Descriptor.Digest)
	// Output:
	// docker-archive linux/amd64 true
}
