package image

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

// Docker media types, read and converted; never written.
const (
	DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	DockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	DockerConfig       = "application/vnd.docker.container.image.v1+json"
	DockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	// DockerLayerUncompressed is schema 2's plain tar layer.
	DockerLayerUncompressed = "application/vnd.docker.image.rootfs.diff.tar"
	DockerForeignLayer      = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// Image is a resolved single-platform image: its manifest and config as
// exact bytes and its layers as descriptors. It never holds layer bytes.
type Image struct {
	// Manifest is the OCI manifest. For a Docker-typed source it is the
	// converted manifest (same config and layer blobs, OCI media types).
	Manifest   Blob
	Config     Blob
	ConfigFile ConfigFile
	Layers     []ocispec.Descriptor
	Platform   ocispec.Platform
	// Converted is true when the source manifest had Docker media types.
	Converted bool
	// SourceManifest describes the manifest as its source holds it (media
	// type, digest, size): for a Converted image the Docker manifest, whose
	// digest is the one a registry knows; otherwise Manifest.Descriptor.
	// It is zero for an image built here, not resolved.
	SourceManifest ocispec.Descriptor
}

// DiffIDs returns the config's rootfs.diff_ids.
func (img Image) DiffIDs() []digest.Digest { return img.ConfigFile.RootFS.DiffIDs }

// Resolve reads the image that root names from f: an index (the manifest
// for platform is chosen; with a nil platform the index must hold exactly
// one) or a manifest, then its config. Every read is capped at
// blob.MaxMetadataBytes before allocating and verified against its
// descriptor; Docker media types are converted to OCI; a graph that mixes
// the two is an error wrapping ErrMediaTypeMix.
func Resolve(ctx context.Context, f blob.Fetcher, root ocispec.Descriptor, platform *ocispec.Platform) (Image, error) {
	desc := root
	for depth := 0; ; depth++ {
		if depth > 4 {
			return Image{}, fmt.Errorf("%s: indexes nested too deep", root.Digest)
		}
		switch desc.MediaType {
		case ocispec.MediaTypeImageIndex, DockerManifestList:
			idx, err := ReadIndex(ctx, f, desc)
			if err != nil {
				return Image{}, err
			}
			next, err := SelectManifest(idx, desc, platform)
			if err != nil {
				return Image{}, err
			}
			desc = next
			continue
		case ocispec.MediaTypeImageManifest, DockerManifest:
			return resolveManifest(ctx, f, desc)
		}
		return Image{}, fmt.Errorf("%s: media type %q is neither an index nor an image manifest", desc.Digest, desc.MediaType)
	}
}

// ReadIndex reads and decodes an index (OCI or Docker manifest list).
func ReadIndex(ctx context.Context, f blob.Fetcher, desc ocispec.Descriptor) (ocispec.Index, error) {
	b, err := blob.ReadAll(ctx, f, desc, blob.MaxMetadataBytes)
	if err != nil {
		return ocispec.Index{}, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Index{}, fmt.Errorf("%s %s: %v", desc.Digest, desc.MediaType, err)
	}
	if idx.MediaType != "" && idx.MediaType != desc.MediaType {
		return ocispec.Index{}, fmt.Errorf("%s: mediaType %q in the blob, %q in its descriptor", desc.Digest, idx.MediaType, desc.MediaType)
	}
	if idx.Manifests == nil {
		return ocispec.Index{}, fmt.Errorf("%s: index manifests is null", desc.Digest)
	}
	return idx, nil
}

// attestationAnnotation marks the attestation manifests BuildKit stores in an
// index beside each image (platform unknown/unknown); SelectManifest skips
// them.
const attestationAnnotation = "vnd.docker.reference.type"

// SelectManifest picks the entry of idx for platform. With a nil platform
// the index must hold exactly one image. Otherwise the entries whose
// platform matches (MatchPlatform) are chosen; several that differ (linux/arm
// asked, linux/arm/v6 and linux/arm/v7 held) are an error, not a guess; when
// none matches, a single entry without a platform (e.g. a nested index) is
// taken. Attestation manifests are never chosen.
func SelectManifest(idx ocispec.Index, desc ocispec.Descriptor, platform *ocispec.Platform) (ocispec.Descriptor, error) {
	var have []string
	var matched, unplatformed []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if m.Annotations[attestationAnnotation] == "attestation-manifest" {
			continue
		}
		if m.Platform == nil {
			unplatformed = append(unplatformed, m)
			continue
		}
		have = append(have, PlatformString(*m.Platform))
		if platform == nil || MatchPlatform(*platform, *m.Platform) {
			matched = append(matched, m)
		}
	}
	if platform == nil {
		all := append(matched, unplatformed...)
		switch len(all) {
		case 0:
			return ocispec.Descriptor{}, fmt.Errorf("%s: index holds no manifest", desc.Digest)
		case 1:
			return all[0], nil
		}
		return ocispec.Descriptor{}, fmt.Errorf("%s: index holds several platforms (%s): choose one", desc.Digest, strings.Join(have, ", "))
	}
	switch {
	case len(matched) == 0 && len(unplatformed) == 1:
		return unplatformed[0], nil
	case len(matched) == 0:
		return ocispec.Descriptor{}, fmt.Errorf("%s: no manifest for platform %s (have %s)", desc.Digest, PlatformString(*platform), strings.Join(have, ", "))
	}
	for _, m := range matched[1:] {
		if !MatchPlatform(*m.Platform, *matched[0].Platform) || !MatchPlatform(*matched[0].Platform, *m.Platform) {
			var names []string
			for _, m := range matched {
				names = append(names, PlatformString(*m.Platform))
			}
			return ocispec.Descriptor{}, fmt.Errorf("%s: platform %s matches several manifests (%s): name the variant", desc.Digest, PlatformString(*platform), strings.Join(names, ", "))
		}
	}
	return matched[0], nil // one, or duplicates of one platform: the first, as containerd does
}

func resolveManifest(ctx context.Context, f blob.Fetcher, desc ocispec.Descriptor) (Image, error) {
	b, err := blob.ReadAll(ctx, f, desc, blob.MaxMetadataBytes)
	if err != nil {
		return Image{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Image{}, fmt.Errorf("%s %s: %v", desc.Digest, desc.MediaType, err)
	}
	if m.SchemaVersion != 2 {
		return Image{}, fmt.Errorf("%s: schemaVersion %d: want 2", desc.Digest, m.SchemaVersion)
	}
	if m.MediaType != "" && m.MediaType != desc.MediaType {
		return Image{}, fmt.Errorf("%s: mediaType %q in the blob, %q in its descriptor", desc.Digest, m.MediaType, desc.MediaType)
	}
	// The descriptor describes the bytes; an index entry's platform and
	// annotations (ref.name, ...) belong to the index, not to the image.
	source := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	img := Image{Manifest: Blob{Descriptor: source, Data: b}, SourceManifest: source}
	docker := desc.MediaType == DockerManifest
	if docker {
		if m, err = convertManifest(m, desc); err != nil {
			return Image{}, err
		}
		img.Converted = true
	} else if err := checkOCI(m, desc); err != nil {
		return Image{}, err
	}
	// Layer descriptors travel on to layouts and archives, where a digest
	// becomes a path: check their grammar here, before anything uses them.
	for i, l := range m.Layers {
		if err := blob.ValidateDescriptor(l); err != nil {
			return Image{}, fmt.Errorf("%s: layers[%d]: %w", desc.Digest, i, err)
		}
	}
	cb, err := blob.ReadAll(ctx, f, m.Config, blob.MaxMetadataBytes)
	if err != nil {
		return Image{}, fmt.Errorf("config: %w", err)
	}
	var cf ConfigFile
	if err := json.Unmarshal(cb, &cf); err != nil {
		return Image{}, fmt.Errorf("config %s: %v", m.Config.Digest, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return Image{}, fmt.Errorf("config %s: %d rootfs.diff_ids for %d layers", m.Config.Digest, len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	if cf.OS == "" || cf.Architecture == "" {
		return Image{}, fmt.Errorf("config %s: os and architecture must be set", m.Config.Digest)
	}
	for i, d := range cf.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return Image{}, fmt.Errorf("config %s: rootfs.diff_ids[%d] %q: %v", m.Config.Digest, i, d, err)
		}
	}
	img.Config = Blob{Descriptor: m.Config, Data: cb}
	img.ConfigFile = cf
	img.Layers = m.Layers
	img.Platform = cf.Platform
	if docker {
		img.Manifest, err = NewManifest(img.Config, m.Layers, ManifestOptions{Annotations: m.Annotations})
		if err != nil {
			return Image{}, err
		}
	}
	return img, nil
}

func checkOCI(m ocispec.Manifest, desc ocispec.Descriptor) error {
	if strings.HasPrefix(m.Config.MediaType, "application/vnd.docker.") {
		return fmt.Errorf("%s: %w: config %s", desc.Digest, ErrMediaTypeMix, m.Config.MediaType)
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig {
		return fmt.Errorf("%s: config media type %q: not an image (want %s)", desc.Digest, m.Config.MediaType, ocispec.MediaTypeImageConfig)
	}
	for i, l := range m.Layers {
		if strings.HasPrefix(l.MediaType, "application/vnd.docker.") {
			return fmt.Errorf("%s: %w: layers[%d] %s", desc.Digest, ErrMediaTypeMix, i, l.MediaType)
		}
		if !slices.Contains(ociLayerTypes, l.MediaType) {
			return fmt.Errorf("%s: layers[%d]: media type %q is not an OCI layer type", desc.Digest, i, l.MediaType)
		}
	}
	return nil
}

//nolint:staticcheck // the non-distributable types are deprecated but still read
var ociLayerTypes = []string{
	ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
	ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip, ocispec.MediaTypeImageLayerNonDistributableZstd,
}

// convertManifest turns a Docker schema 2 manifest into its OCI form: the
// same blobs, OCI media types.
func convertManifest(m ocispec.Manifest, desc ocispec.Descriptor) (ocispec.Manifest, error) {
	if m.Config.MediaType != DockerConfig {
		return m, fmt.Errorf("%s: %w: config %s in a Docker manifest", desc.Digest, ErrMediaTypeMix, m.Config.MediaType)
	}
	m.MediaType = ocispec.MediaTypeImageManifest
	m.Config.MediaType = ocispec.MediaTypeImageConfig
	for i, l := range m.Layers {
		switch l.MediaType {
		case DockerLayer:
			m.Layers[i].MediaType = ocispec.MediaTypeImageLayerGzip
		case DockerLayerUncompressed:
			m.Layers[i].MediaType = ocispec.MediaTypeImageLayer
		case DockerForeignLayer:
			m.Layers[i].MediaType = ocispec.MediaTypeImageLayerNonDistributableGzip //nolint:staticcheck // the OCI name for foreign layers
		default:
			return m, fmt.Errorf("%s: %w: layers[%d] %s in a Docker manifest", desc.Digest, ErrMediaTypeMix, i, l.MediaType)
		}
	}
	return m, nil
}
