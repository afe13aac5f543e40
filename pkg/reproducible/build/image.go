// Package build assembles images from built layers: the config, manifest and
// index steps that both front ends share (`imagewriter build` in one process,
// and the Bazel rules one action per step), so that the same content gives
// the same digests through either.
package build

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// DefaultCreatedBy is the history created_by of a layer that names none.
const DefaultCreatedBy = "imagewriter"

// Base annotations, from the image-spec's pre-defined keys.
const (
	BaseNameAnnotation   = ocispec.AnnotationBaseImageName
	BaseDigestAnnotation = ocispec.AnnotationBaseImageDigest
)

// Layer is a built layer as an image uses it.
type Layer struct {
	Metadata layer.Metadata
	// CreatedBy and Comment fill the layer's history entry.
	CreatedBy string
	Comment   string
}

// Base is a resolved base image and how to name it in annotations.
type Base struct {
	Image image.Image
	// Name is the base's reference for org.opencontainers.image.base.name;
	// "" writes no base annotations.
	Name string
}

// ImageRequest is everything an image is computed from.
type ImageRequest struct {
	Base     *Base
	Platform ocispec.Platform
	Layers   []Layer
	Created  *time.Time
	Author   string
	image.Overrides
	Annotations  map[string]string
	Subject      *ocispec.Descriptor
	ArtifactType string
}

// Image computes the config and manifest of an image. It is a pure function
// of req: layer bytes are never read, only their metadata.
func Image(req ImageRequest) (image.Image, error) {
	opts := image.ConfigOptions{
		Platform:            req.Platform,
		Created:             req.Created,
		Author:              req.Author,
		Overrides:           req.Overrides,
		EmptyLayerCreatedBy: DefaultCreatedBy + " config",
	}
	var layers []ocispec.Descriptor
	annotations := map[string]string{}
	if req.Base != nil {
		b := req.Base.Image
		if !image.MatchPlatform(req.Platform, b.Platform) {
			return image.Image{}, fmt.Errorf("base is %s, the image is %s", image.PlatformString(b.Platform), image.PlatformString(req.Platform))
		}
		opts.Base = &b.ConfigFile
		layers = append(layers, b.Layers...)
		if req.Base.Name != "" {
			// The digest the base is known by where it came from: for a
			// converted Docker manifest, the Docker manifest's.
			d := b.Manifest.Descriptor.Digest
			if b.SourceManifest.Digest != "" {
				d = b.SourceManifest.Digest
			}
			annotations[BaseNameAnnotation] = req.Base.Name
			annotations[BaseDigestAnnotation] = d.String()
		}
	}
	for i, l := range req.Layers {
		if err := l.Metadata.DiffID.Validate(); err != nil {
			return image.Image{}, fmt.Errorf("layers[%d]: diffID: %v", i, err)
		}
		createdBy := l.CreatedBy
		if createdBy == "" {
			createdBy = DefaultCreatedBy
		}
		opts.Layers = append(opts.Layers, image.LayerHistory{DiffID: l.Metadata.DiffID, CreatedBy: createdBy, Comment: l.Comment})
		layers = append(layers, l.Metadata.Descriptor)
	}
	for k, v := range req.Annotations {
		annotations[k] = v
	}
	cf, config, err := image.NewConfig(opts)
	if err != nil {
		return image.Image{}, err
	}
	manifest, err := image.NewManifest(config, layers, image.ManifestOptions{
		Annotations: annotations, Subject: req.Subject, ArtifactType: req.ArtifactType,
	})
	if err != nil {
		return image.Image{}, err
	}
	return image.Image{Manifest: manifest, Config: config, ConfigFile: cf, Layers: layers, Platform: req.Platform}, nil
}

// Index computes the index of several images, each entry carrying its
// image's platform.
func Index(images []image.Image, annotations map[string]string) (image.Blob, error) {
	var ds []ocispec.Descriptor
	for _, img := range images {
		d := img.Manifest.Descriptor
		p := img.Platform
		d.Platform = &p
		ds = append(ds, d)
	}
	return image.NewIndex(ds, annotations)
}

// MetadataVersion is the version of image and index metadata files.
const MetadataVersion = 1

// ImageMetadata is the file an image action writes and every later action
// (index, layout, archive, push, test) reads: the manifest and config bytes
// themselves (they are small) and the descriptors of the layers, whose
// blobs travel as separate files.
type ImageMetadata struct {
	Version  int                  `json:"version"`
	Platform ocispec.Platform     `json:"platform"`
	Manifest EncodedBlob          `json:"manifest"`
	Config   EncodedBlob          `json:"config"`
	Layers   []ocispec.Descriptor `json:"layers"`
	DiffIDs  []digest.Digest      `json:"diffIDs"`
}

// IndexMetadata is the file an index action writes.
type IndexMetadata struct {
	Version int             `json:"version"`
	Index   EncodedBlob     `json:"index"`
	Images  []ImageMetadata `json:"images"`
}

// EncodedBlob is a descriptor and its exact bytes, as a string (the blob is
// JSON, so it stays readable).
type EncodedBlob struct {
	Descriptor ocispec.Descriptor `json:"descriptor"`
	Data       string             `json:"data"`
}

func encode(b image.Blob) EncodedBlob {
	return EncodedBlob{Descriptor: b.Descriptor, Data: string(b.Data)}
}

// Blob returns the descriptor and bytes, checked against each other.
func (e EncodedBlob) Blob() (image.Blob, error) {
	b := image.BlobOf(e.Descriptor.MediaType, []byte(e.Data))
	if b.Descriptor.Digest != e.Descriptor.Digest || b.Descriptor.Size != e.Descriptor.Size {
		return image.Blob{}, fmt.Errorf("%s %s: bytes do not match the descriptor (got %s, %d bytes)", e.Descriptor.Digest, e.Descriptor.MediaType, b.Descriptor.Digest, b.Descriptor.Size)
	}
	b.Descriptor = e.Descriptor
	return b, nil
}

// NewImageMetadata describes img.
func NewImageMetadata(img image.Image) ImageMetadata {
	return ImageMetadata{
		Version:  MetadataVersion,
		Platform: img.Platform,
		Manifest: encode(img.Manifest),
		Config:   encode(img.Config),
		Layers:   img.Layers,
		DiffIDs:  img.ConfigFile.RootFS.DiffIDs,
	}
}

// Image rebuilds the image.Image the metadata describes.
func (m ImageMetadata) Image() (image.Image, error) {
	if m.Version != MetadataVersion {
		return image.Image{}, fmt.Errorf("version %d: this imagewriter reads %d", m.Version, MetadataVersion)
	}
	mb, err := m.Manifest.Blob()
	if err != nil {
		return image.Image{}, fmt.Errorf("manifest: %w", err)
	}
	cb, err := m.Config.Blob()
	if err != nil {
		return image.Image{}, fmt.Errorf("config: %w", err)
	}
	var cf image.ConfigFile
	if err := json.Unmarshal(cb.Data, &cf); err != nil {
		return image.Image{}, fmt.Errorf("config: %v", err)
	}
	// The blobs are checked against their descriptors above; the fields
	// beside them must agree with the blobs, or a later action would write
	// an output whose index, layers or manifest.json the manifest denies.
	var man ocispec.Manifest
	if err := json.Unmarshal(mb.Data, &man); err != nil {
		return image.Image{}, fmt.Errorf("manifest: %v", err)
	}
	if man.Config.Digest != cb.Descriptor.Digest {
		return image.Image{}, fmt.Errorf("config: %s is not the manifest's config %s", cb.Descriptor.Digest, man.Config.Digest)
	}
	if len(m.Layers) != len(man.Layers) {
		return image.Image{}, fmt.Errorf("layers: %d, the manifest has %d", len(m.Layers), len(man.Layers))
	}
	for i, l := range m.Layers {
		if ml := man.Layers[i]; l.Digest != ml.Digest || l.Size != ml.Size || l.MediaType != ml.MediaType {
			return image.Image{}, fmt.Errorf("layers[%d]: %s %s (%d bytes) is not the manifest's %s %s (%d bytes)", i, l.Digest, l.MediaType, l.Size, ml.Digest, ml.MediaType, ml.Size)
		}
	}
	if !slices.Equal(m.DiffIDs, cf.RootFS.DiffIDs) {
		return image.Image{}, fmt.Errorf("diffIDs: not the config's rootfs.diff_ids")
	}
	if image.ComparePlatforms(m.Platform, cf.Platform) != 0 {
		return image.Image{}, fmt.Errorf("platform: %s, the config's is %s", image.PlatformString(m.Platform), image.PlatformString(cf.Platform))
	}
	return image.Image{Manifest: mb, Config: cb, ConfigFile: cf, Layers: m.Layers, Platform: m.Platform}, nil
}

// ReadImageMetadata reads an image metadata file.
func ReadImageMetadata(path string) (ImageMetadata, error) {
	var m ImageMetadata
	if err := readJSON(path, &m); err != nil {
		return m, err
	}
	if _, err := m.Image(); err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ReadIndexMetadata reads an index metadata file.
func ReadIndexMetadata(path string) (IndexMetadata, error) {
	var m IndexMetadata
	if err := readJSON(path, &m); err != nil {
		return m, err
	}
	if m.Version != MetadataVersion {
		return m, fmt.Errorf("%s: version %d: this imagewriter reads %d", path, m.Version, MetadataVersion)
	}
	if _, err := m.Index.Blob(); err != nil {
		return m, fmt.Errorf("%s: index: %w", path, err)
	}
	return m, nil
}

// NewIndexMetadata computes the index of images and describes it.
func NewIndexMetadata(images []image.Image, annotations map[string]string) (IndexMetadata, error) {
	idx, err := Index(images, annotations)
	if err != nil {
		return IndexMetadata{}, err
	}
	m := IndexMetadata{Version: MetadataVersion, Index: encode(idx)}
	for _, img := range images {
		m.Images = append(m.Images, NewImageMetadata(img))
	}
	return m, nil
}

// WriteJSON writes v as an indented metadata file, atomically.
func WriteJSON(path string, v any) error {
	b, err := reproducible.MarshalIndent(v)
	if err != nil {
		return err
	}
	return reproducible.WriteFileAtomic(path, b)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
