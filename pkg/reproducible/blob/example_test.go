package blob_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

// VerifyReader checks the bytes against their descriptor when the reader
// reaches the end.
func ExampleVerifyReader() {
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("{}"), Size: 2}
	_, err := io.ReadAll(blob.VerifyReader(strings.NewReader("{}"), desc))
	fmt.Println(err)
	_, err = io.ReadAll(blob.VerifyReader(strings.NewReader("[]"), desc))
	fmt.Println(errors.Is(err, blob.ErrDigestMismatch))
	// Output:
	// <nil>
	// true
}
