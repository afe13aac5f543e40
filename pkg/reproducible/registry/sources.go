package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

// SourcesFile is the file a shallow pull writes beside index.json in its
// layout directory: where the blobs it left out can be found. A layout
// with this file may lack exactly the blobs the file names.
const SourcesFile = "imagewriter-sources.json"

// SourcesVersion is the version of the sources file this package writes
// and reads.
const SourcesVersion = 1

// Sources records, for blobs a layout does not hold, the repositories that
// do.
type Sources struct {
	Version int `json:"version"`
	// Blobs maps a digest to where it lives, first choice first.
	Blobs map[digest.Digest][]Location `json:"blobs"`
}

// Location is a repository of a registry.
type Location struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
}

// Reference is the location as a reference with no tag or digest.
func (l Location) Reference() Reference {
	return Reference{Registry: l.Registry, Repository: l.Repository}
}

// Add records that loc holds d.
func (s *Sources) Add(d digest.Digest, loc Location) {
	if s.Blobs == nil {
		s.Blobs = map[digest.Digest][]Location{}
	}
	if !slices.Contains(s.Blobs[d], loc) {
		s.Blobs[d] = append(s.Blobs[d], loc)
	}
}

// Merge adds every record of o.
func (s *Sources) Merge(o *Sources) {
	if o == nil {
		return
	}
	for _, d := range slices.Sorted(maps.Keys(o.Blobs)) {
		for _, l := range o.Blobs[d] {
			s.Add(d, l)
		}
	}
}

// MountFrom returns, for CopyOptions.MountFrom, the repositories of the
// destination's registry recorded as holding a blob.
func (s *Sources) MountFrom(dst Reference) func(ocispec.Descriptor) []string {
	return func(desc ocispec.Descriptor) []string {
		var repos []string
		for _, l := range s.Blobs[desc.Digest] {
			if l.Registry == dst.Registry && l.Repository != dst.Repository {
				repos = append(repos, l.Repository)
			}
		}
		return repos
	}
}

// ReadSources reads dir's sources file; a layout without one gives nil and
// no error.
func ReadSources(dir string) (*Sources, error) {
	p := filepath.Join(dir, SourcesFile)
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Size() > blob.MaxMetadataBytes {
		return nil, fmt.Errorf("%s: %w: %d bytes", p, blob.ErrTooLarge, fi.Size())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var s Sources
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	if s.Version != SourcesVersion {
		return nil, fmt.Errorf("%s: version %d: this imagewriter reads %d", p, s.Version, SourcesVersion)
	}
	for d, ls := range s.Blobs {
		if err := blob.ValidateDescriptor(descriptorOf(d)); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for i, l := range ls {
			r, err := ParseReference(l.Registry + "/" + l.Repository)
			if err != nil || r.Registry != l.Registry || r.Repository != l.Repository {
				return nil, fmt.Errorf("%s: blobs[%s][%d]: %q is not a repository", p, d, i, l.Registry+"/"+l.Repository)
			}
		}
	}
	return &s, nil
}

// WriteSources writes s into the layout directory dir, atomically.
func WriteSources(dir string, s *Sources) error {
	s.Version = SourcesVersion
	b, err := reproducible.MarshalIndent(s)
	if err != nil {
		return err
	}
	return reproducible.WriteFileAtomic(filepath.Join(dir, SourcesFile), b)
}

// SourceFetcher serves the blobs s records from the repositories that
// hold them, verified. Give it after the layout's own store, so that it is
// asked only for what the layout lacks.
func (c *Client) SourceFetcher(s *Sources) blob.Fetcher {
	return blob.FetcherFunc(func(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
		var errs []error
		for _, l := range s.Blobs[desc.Digest] {
			r, err := c.Repository(l.Reference())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rc, err := r.Fetch(ctx, desc)
			if err == nil {
				return rc, nil
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return nil, fmt.Errorf("%s %s: %w: no registry is recorded for it", desc.Digest, desc.MediaType, blob.ErrNotFound)
		}
		return nil, errors.Join(errs...)
	})
}
