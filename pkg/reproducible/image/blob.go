// Package image is the image model: config, manifest and index as pure
// functions from their inputs to exact bytes, and Resolve, which reads an
// image (index → manifest → config) from any blob.Fetcher, verified, with
// Docker media types converted to OCI.
package image

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// ErrMediaTypeMix is wrapped by errors about Docker and OCI media types
// mixed in one graph.
var ErrMediaTypeMix = errors.New("docker and OCI media types mixed")

// Blob is a descriptor and the exact bytes it describes, encoded once.
type Blob struct {
	Descriptor ocispec.Descriptor
	Data       []byte
}

// NewBlob encodes v with the canonical encoder and describes it.
func NewBlob(mediaType string, v any) (Blob, error) {
	b, err := reproducible.Marshal(v)
	if err != nil {
		return Blob{}, fmt.Errorf("%s: %w", mediaType, err)
	}
	return BlobOf(mediaType, b), nil
}

// BlobOf describes bytes that are already encoded.
func BlobOf(mediaType string, b []byte) Blob {
	return Blob{
		Descriptor: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))},
		Data:       b,
	}
}
