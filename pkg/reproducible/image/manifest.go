package image

import (
	"fmt"
	"maps"
	"slices"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ManifestOptions are the optional parts of a manifest.
type ManifestOptions struct {
	Annotations  map[string]string
	Subject      *ocispec.Descriptor
	ArtifactType string
}

// NewManifest computes an image manifest. layers keep their order.
func NewManifest(config Blob, layers []ocispec.Descriptor, opts ManifestOptions) (Blob, error) {
	if config.Descriptor.MediaType != ocispec.MediaTypeImageConfig && opts.ArtifactType == "" {
		return Blob{}, fmt.Errorf("manifest: config media type %q needs an artifactType", config.Descriptor.MediaType)
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: opts.ArtifactType,
		Config:       config.Descriptor,
		Layers:       slices.Clone(layers),
		Subject:      opts.Subject,
		Annotations:  nonEmpty(opts.Annotations),
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	return NewBlob(ocispec.MediaTypeImageManifest, m)
}

// NewIndex computes an image index over manifests, each of which must carry
// its platform. Entries are sorted by ComparePlatforms (then digest), so the
// index does not depend on input order; two manifests for one platform are
// an error.
func NewIndex(manifests []ocispec.Descriptor, annotations map[string]string) (Blob, error) {
	ms := slices.Clone(manifests)
	for i, m := range ms {
		if m.Platform == nil {
			return Blob{}, fmt.Errorf("index: manifests[%d] %s: no platform", i, m.Digest)
		}
		if m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != ocispec.MediaTypeImageIndex {
			return Blob{}, fmt.Errorf("index: manifests[%d] %s: media type %q", i, m.Digest, m.MediaType)
		}
	}
	slices.SortStableFunc(ms, func(a, b ocispec.Descriptor) int {
		if c := ComparePlatforms(*a.Platform, *b.Platform); c != 0 {
			return c
		}
		return compareStrings(string(a.Digest), string(b.Digest))
	})
	for i := 1; i < len(ms); i++ {
		if ComparePlatforms(*ms[i-1].Platform, *ms[i].Platform) == 0 {
			return Blob{}, fmt.Errorf("index: two manifests for platform %s (%s, %s)", PlatformString(*ms[i].Platform), ms[i-1].Digest, ms[i].Digest)
		}
	}
	if ms == nil {
		ms = []ocispec.Descriptor{}
	}
	idx := ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   ms,
		Annotations: nonEmpty(annotations),
	}
	return NewBlob(ocispec.MediaTypeImageIndex, idx)
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
