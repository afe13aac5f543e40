package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// PullOptions change how Pull works. The zero value pulls everything,
// 3 blobs at a time, and names nothing in index.json.
type PullOptions struct {
	// Platform, when set and the root is an index, pulls only the manifest
	// for it: the layout then holds that manifest, not the index.
	Platform *ocispec.Platform
	// Shallow fetches manifests, indexes and configs but no layers, and
	// records in the layout's SourcesFile where the layers live.
	Shallow bool
	// RefName is the ref.name of the image in index.json ("" for none).
	RefName string
	// Concurrency is the number of blobs in flight; 0 is 3.
	Concurrency int
	// OnEvent, when set, is told what happens to each blob.
	OnEvent func(Event)
	// ByteProgress sends OnEvent an EventProgress as bytes flow.
	ByteProgress bool
}

// Pull writes the graph under root in repo as an OCI image layout
// directory at dst and returns the descriptor index.json names (root, or
// the platform's manifest). Every blob is verified while it streams and
// written under a temporary name; the layout is assembled in a temporary
// sibling of dst and renamed into place, replacing an existing dst when it
// is an OCI layout or empty (anything else is refused before any
// download). On error nothing is left.
func Pull(ctx context.Context, repo *Repository, root ocispec.Descriptor, dst string, opts PullOptions) (ocispec.Descriptor, error) {
	if err := replaceable(dst); err != nil {
		return ocispec.Descriptor{}, err
	}
	if opts.Platform != nil && (root.MediaType == ocispec.MediaTypeImageIndex || root.MediaType == dockerManifestList) {
		idx, err := image.ReadIndex(ctx, repo, root)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if root, err = image.SelectManifest(idx, root, opts.Platform); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	g, err := Walk(ctx, repo, root)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return ocispec.Descriptor{}, err
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".pull-*")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer os.RemoveAll(stage)
	store := layout.Dir(filepath.Join(stage, "fetched"))
	copts := CopyOptions{Concurrency: opts.Concurrency, OnEvent: opts.OnEvent, ByteProgress: opts.ByteProgress}
	l := layout.New()
	var sources Sources
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(copts.concurrency())
	for _, d := range g.Blobs {
		if opts.Shallow && g.Layers[d.Digest] {
			sources.Add(d.Digest, Location{Registry: repo.ref.Registry, Repository: repo.ref.Repository})
			copts.emit(Event{Kind: EventSkipped, Desc: d})
			continue
		}
		l.AddFile(d, store.BlobPath(d.Digest))
		eg.Go(func() error {
			rc, err := repo.fetch(gctx, d) // store.Push verifies
			if err != nil {
				return err
			}
			defer rc.Close()
			copts.emit(Event{Kind: EventStart, Desc: d})
			if err := store.Push(gctx, d, counting(rc, d, copts)); err != nil {
				return fmt.Errorf("%s: pull %s: %w", repo.Name(), descSubject(d), err)
			}
			copts.emit(Event{Kind: EventDone, Desc: d})
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, m := range g.Manifests {
		l.AddBlob(image.Blob{Descriptor: m.Descriptor, Data: m.Data})
	}
	l.Tag(root, opts.RefName)
	out := filepath.Join(stage, "layout")
	if err := layout.WriteDir(ctx, out, l); err != nil {
		return ocispec.Descriptor{}, err
	}
	if opts.Shallow && len(sources.Blobs) > 0 {
		if err := WriteSources(out, &sources); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := reproducible.ReplaceDir(out, dst); err != nil {
		return ocispec.Descriptor{}, err
	}
	return root, nil
}

// replaceable refuses a dst that exists and is neither an empty directory
// nor an OCI image layout: Pull must not delete what it did not write.
func replaceable(dst string) error {
	fi, err := os.Lstat(dst)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: exists and is not a directory", dst)
	}
	if _, err := os.Stat(filepath.Join(dst, ocispec.ImageLayoutFile)); err == nil {
		return nil
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s: exists, is not empty and is not an OCI image layout; not replacing it", dst)
	}
	return nil
}

var _ blob.Fetcher = (*Repository)(nil)
