package verify_test

import (
	"bytes"
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/verify"
)

// Check reports every problem of a graph, each with where it is; here a
// config whose os is a number and whose history does not pair with its
// diff_ids.
func ExampleCheck() {
	ctx := context.Background()
	store := blob.NewMemory()
	config := image.BlobOf(ocispec.MediaTypeImageConfig,
		[]byte(`{"architecture":"amd64","os":42,"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"x"}]}`))
	manifest, _ := image.NewManifest(config, nil, image.ManifestOptions{})
	for _, b := range []image.Blob{config, manifest} {
		store.Push(ctx, b.Descriptor, bytes.NewReader(b.Data))
	}

	rep, err := verify.Check(ctx, store, manifest.Descriptor, verify.Options{})
	if err != nil {
		panic(err) // the check could not finish
	}
	for _, p := range rep.Problems {
		fmt.Printf("%s: %s\n", p.Path, p.What)
	}
	// Output:
	// os: is the number 42, want a string
	// history: 1 of its entries add a layer (empty_layer unset), but there are 0 diff_ids
}
