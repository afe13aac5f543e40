package layer

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// MetadataVersion is the version of the layer metadata file. It changes
// only when a field changes meaning; readers refuse versions they do not know.
const MetadataVersion = 1

// Metadata describes a built layer. Its JSON form is the contract between
// the action that builds a layer and every action that uses it: those read
// this file, never the blob.
type Metadata struct {
	Version          int                `json:"version"`
	Descriptor       ocispec.Descriptor `json:"descriptor"`
	DiffID           digest.Digest      `json:"diffID"`
	UncompressedSize int64              `json:"uncompressedSize"`
	Compression      CompressionInfo    `json:"compression"`
}

// CompressionInfo records how a blob was compressed, so that two digests of
// one DiffID can be explained.
type CompressionInfo struct {
	Algorithm      reproducible.Algorithm `json:"algorithm"`
	Level          int                    `json:"level,omitempty"`
	Implementation string                 `json:"implementation,omitempty"`
}

// Marshal encodes m for a metadata file.
func (m Metadata) Marshal() ([]byte, error) { return reproducible.MarshalIndent(m) }

// ReadMetadata reads and checks a layer metadata file.
func ReadMetadata(path string) (Metadata, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Metadata{}, err
	}
	return ParseMetadata(path, b)
}

// ParseMetadata decodes and checks metadata; name is used in errors.
func ParseMetadata(name string, b []byte) (Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return Metadata{}, fmt.Errorf("%s: %v", name, err)
	}
	if m.Version != MetadataVersion {
		return Metadata{}, fmt.Errorf("%s: version: %d, this imagewriter reads %d", name, m.Version, MetadataVersion)
	}
	if err := m.DiffID.Validate(); err != nil {
		return Metadata{}, fmt.Errorf("%s: diffID: %v", name, err)
	}
	if err := m.Descriptor.Digest.Validate(); err != nil {
		return Metadata{}, fmt.Errorf("%s: descriptor.digest: %v", name, err)
	}
	switch m.Descriptor.MediaType {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd:
	default:
		return Metadata{}, fmt.Errorf("%s: descriptor.mediaType: %q is not an OCI layer type", name, m.Descriptor.MediaType)
	}
	return m, nil
}
