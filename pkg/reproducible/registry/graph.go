package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

// Graph is what a manifest or index reaches: the manifests and indexes
// with their bytes, children before parents and the root last, and the
// other blobs (configs and layers), each once.
type Graph struct {
	Root      ocispec.Descriptor
	Manifests []Manifest
	Blobs     []ocispec.Descriptor
	// Layers holds the digests of Blobs that are layers (not configs).
	Layers map[digest.Digest]bool
}

// Manifest is a manifest or index and its exact bytes.
type Manifest struct {
	Descriptor ocispec.Descriptor
	Data       []byte
}

// RootData returns the bytes of the root.
func (g *Graph) RootData() []byte { return g.Manifests[len(g.Manifests)-1].Data }

// maxDepth bounds nested indexes.
const maxDepth = 4

// Walk reads the graph under root from f: manifests and indexes (OCI or
// Docker) are read whole, capped at blob.MaxMetadataBytes before
// allocating, and verified; configs and layers are only listed. A layer
// marked non-distributable (Docker's foreign layers and OCI's
// nondistributable types) is left out: registries do not hold them.
func Walk(ctx context.Context, f blob.Fetcher, root ocispec.Descriptor) (*Graph, error) {
	g := &Graph{Root: root, Layers: map[digest.Digest]bool{}}
	seen := map[digest.Digest]bool{}
	if err := g.walk(ctx, f, root, 0, seen); err != nil {
		return nil, err
	}
	return g, nil
}

// manifestJSON is the union of what an index and a manifest hold.
type manifestJSON struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
}

func (g *Graph) walk(ctx context.Context, f blob.Fetcher, desc ocispec.Descriptor, depth int, seen map[digest.Digest]bool) error {
	if seen[desc.Digest] {
		return nil
	}
	seen[desc.Digest] = true
	if depth > maxDepth {
		return fmt.Errorf("%s: indexes nested deeper than %d", desc.Digest, maxDepth)
	}
	if !slices.Contains(manifestMediaTypes, desc.MediaType) {
		return fmt.Errorf("%s: media type %q is not a manifest or index", desc.Digest, desc.MediaType)
	}
	data, err := blob.ReadAll(ctx, f, desc, blob.MaxMetadataBytes)
	if err != nil {
		return err
	}
	var m manifestJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s %s: %v", desc.Digest, desc.MediaType, err)
	}
	if m.SchemaVersion != 2 {
		return fmt.Errorf("%s %s: schemaVersion %d: want 2", desc.Digest, desc.MediaType, m.SchemaVersion)
	}
	if m.MediaType != "" && m.MediaType != desc.MediaType {
		return fmt.Errorf("%s: mediaType %q in the blob, %q in its descriptor", desc.Digest, m.MediaType, desc.MediaType)
	}
	switch desc.MediaType {
	case ocispec.MediaTypeImageIndex, dockerManifestList:
		if m.Config != nil || m.Layers != nil {
			return fmt.Errorf("%s %s: an index with config or layers", desc.Digest, desc.MediaType)
		}
		for i, c := range m.Manifests {
			if err := blob.ValidateDescriptor(c); err != nil {
				return fmt.Errorf("%s: manifests[%d]: %w", desc.Digest, i, err)
			}
			if err := g.walk(ctx, f, c, depth+1, seen); err != nil {
				return err
			}
		}
	default:
		if m.Config == nil {
			return fmt.Errorf("%s %s: no config", desc.Digest, desc.MediaType)
		}
		if err := blob.ValidateDescriptor(*m.Config); err != nil {
			return fmt.Errorf("%s: config: %w", desc.Digest, err)
		}
		g.addBlob(*m.Config, seen)
		for i, l := range m.Layers {
			if err := blob.ValidateDescriptor(l); err != nil {
				return fmt.Errorf("%s: layers[%d]: %w", desc.Digest, i, err)
			}
			if nonDistributable(l.MediaType) {
				continue
			}
			g.Layers[l.Digest] = true
			g.addBlob(l, seen)
		}
	}
	g.Manifests = append(g.Manifests, Manifest{Descriptor: desc, Data: data})
	return nil
}

func (g *Graph) addBlob(d ocispec.Descriptor, seen map[digest.Digest]bool) {
	if seen[d.Digest] {
		return
	}
	seen[d.Digest] = true
	g.Blobs = append(g.Blobs, d)
}

func nonDistributable(mediaType string) bool {
	switch mediaType {
	case "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return true
	}
	return false
}
