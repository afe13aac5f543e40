package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
)

func init() { verbs = append(verbs, newPushCommand) }

func newPushCommand(e env) *cobra.Command {
	var (
		imageMeta, indexMeta string
		layers, baseLayouts  []string
		tags                 []string
		rf                   registryFlags
	)
	cmd := &cobra.Command{
		Use:   "push SRC REF | push (--image IMAGE_META | --index INDEX_META) --layer META=BLOB... [--base-layout DIR...] REF",
		Short: "Push an image or index to a registry",
		Long: `Push an image or a multi-platform index to an OCI registry.

SRC is an OCI layout directory, an OCI or Docker archive (PATH[:NAME] picks
an image of a layout that holds several), or a registry reference to copy.
From Bazel, the image is given as its metadata file (--image, or --index)
and its layer blobs (--layer METADATA=BLOB, as 'imagewriter output' takes
them), with --base-layout for a base image's blobs.

REF is HOST/REPOSITORY[:TAG] or HOST/REPOSITORY@sha256:... (docker:// may
prefix it; the digest must be SRC's). Every --tag names the image too.

Blobs go first, 3 at a time: those the registry has are skipped (HEAD);
those a shallow pull recorded in another repository of the same registry
are mounted from there; the rest are streamed up, each upload started again
after a dropped connection, a 5xx or a 429 (honouring Retry-After). Then
manifests, the index last; then each tag. A failure before the tags leaves
every tag as it was.

Stdout gets one line per tag, REGISTRY/REPOSITORY:TAG@sha256:..., or
REGISTRY/REPOSITORY@sha256:... when no tag is given; progress goes to
stderr. Credentials: $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or
~/.docker/config.json, with their credential helpers (docs/registry.md).`,
		Example: `  imagewriter push out/layout registry.example.com/app:v1 --tag latest
  imagewriter push --image app.json --layer l1.json=l1.tar.gz --base-layout base 127.0.0.1:5000/app:v1`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fromMeta := imageMeta != "" || indexMeta != ""
			switch {
			case imageMeta != "" && indexMeta != "":
				return usagef("--image and --index: give one")
			case fromMeta && len(args) != 1:
				return usagef("with --image or --index, give only REF")
			case !fromMeta && len(args) != 2:
				return usagef("give SRC and REF (or --image/--index and REF)")
			case !fromMeta && (len(layers) > 0 || len(baseLayouts) > 0):
				return usagef("--layer and --base-layout go with --image or --index")
			}
			ref, err := parseRegistryRef(args[len(args)-1], true)
			if err != nil {
				return usageError{err}
			}
			for _, t := range tags {
				if err := registry.ValidateTag(t); err != nil {
					return usagef("--tag: %v", err)
				}
			}
			client, err := newRegistryClient(e, &rf)
			if err != nil {
				return err
			}
			pr, err := newProgress(ctx, e.stderr, rf.progress, "pushed")
			if err != nil {
				return err
			}
			defer pr.close()

			var src pushSource
			if fromMeta {
				src, err = metadataSource(ctx, imageMeta, indexMeta, layers, baseLayouts)
			} else {
				src, err = imageSource(ctx, args[0], e)
			}
			if err != nil {
				return err
			}
			defer src.close()
			if len(src.sources.Blobs) > 0 {
				src.fetch = append(src.fetch, client.SourceFetcher(&src.sources))
			}
			if ref.Digest != "" && ref.Digest != src.root.Digest {
				return fmt.Errorf("%s names %s, but the image is %s", ref, ref.Digest, src.root.Digest)
			}
			all := tags
			if ref.Tag != "" && !slices.Contains(all, ref.Tag) {
				all = append([]string{ref.Tag}, all...)
			}
			dst, err := client.Repository(ref)
			if err != nil {
				return err
			}
			mountFrom := src.sources.MountFrom(ref)
			if src.remote != nil && src.remote.Reference().Registry == ref.Registry {
				from := src.remote.Reference().Repository
				mountFrom = func(ocispec.Descriptor) []string { return []string{from} }
			}
			_, err = registry.Copy(ctx, src.fetch, src.root, dst, registry.CopyOptions{
				Concurrency:  rf.concurrency,
				Tags:         all,
				MountFrom:    mountFrom,
				OnEvent:      pr.event,
				ByteProgress: pr.mode == progressBars,
			})
			if err != nil {
				return err
			}
			pr.close()
			if len(all) == 0 {
				fmt.Fprintln(e.stdout, ref.WithDigest(src.root.Digest))
			}
			for _, t := range all {
				r := ref.WithTag(t)
				r.Digest = src.root.Digest
				fmt.Fprintln(e.stdout, r)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "also tag the image TAG in REF's repository (repeatable)")
	f.StringVar(&imageMeta, "image", "", "image metadata file (instead of SRC)")
	f.StringVar(&indexMeta, "index", "", "index metadata file (instead of SRC)")
	f.StringArrayVar(&layers, "layer", nil, "METADATA=BLOB of a layer, with --image/--index (repeatable)")
	f.StringArrayVar(&baseLayouts, "base-layout", nil, "base image layout/archive holding other blobs, with --image/--index (repeatable)")
	rf.register(cmd)
	return cmd
}

// pushSource is what push reads: the root, where its blobs are, and where
// blobs missing locally live in registries.
type pushSource struct {
	root    ocispec.Descriptor
	fetch   fetchChain
	sources registry.Sources
	// remote is the source repository when SRC is a registry reference.
	remote  *registry.Repository
	closers []func() error
}

func (s *pushSource) close() {
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
}

// imageSource opens SRC as any verb opens an image argument, plus the
// shallow-pull record of a layout directory.
func imageSource(ctx context.Context, arg string, e env) (pushSource, error) {
	o, err := openImage(ctx, arg, e)
	if err != nil {
		return pushSource{}, err
	}
	s := pushSource{root: o.Root, fetch: fetchChain{o.Fetcher}, closers: []func() error{o.Close}}
	if r, ok := o.Fetcher.(*registry.Repository); ok {
		s.remote = r
	}
	if dir := layoutDirOf(arg); dir != "" {
		s.fetch = append(fetchChain{uploadFiles{dir: layout.Dir(dir)}}, s.fetch...)
		rec, err := registry.ReadSources(dir)
		if err != nil {
			s.close()
			return pushSource{}, err
		}
		s.sources.Merge(rec)
	}
	return s, nil
}

// layoutDirOf returns the layout directory an image argument names (as
// openImage reads it), or "".
func layoutDirOf(arg string) string {
	p, _, ok := localImagePath(arg)
	if !ok {
		return ""
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return ""
	}
	return p
}

// metadataSource serves an image or index described by metadata files:
// manifest, config and index bytes from the metadata, layers from their
// blob files, the rest from base layouts (and, for a shallow base, from
// the registry that holds its layers).
func metadataSource(ctx context.Context, imageMeta, indexMeta string, layers, baseLayouts []string) (pushSource, error) {
	var s pushSource
	mem := blob.NewMemory()
	add := func(b image.Blob) error { return mem.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)) }
	var images []build.ImageMetadata
	if imageMeta != "" {
		m, err := build.ReadImageMetadata(imageMeta)
		if err != nil {
			return s, err
		}
		images = append(images, m)
	} else {
		m, err := build.ReadIndexMetadata(indexMeta)
		if err != nil {
			return s, err
		}
		idx, err := m.Index.Blob()
		if err != nil {
			return s, err
		}
		if err := add(idx); err != nil {
			return s, err
		}
		s.root = idx.Descriptor
		images = m.Images
	}
	for _, m := range images {
		img, err := m.Image()
		if err != nil {
			return s, err
		}
		if err := add(img.Manifest); err != nil {
			return s, err
		}
		if err := add(img.Config); err != nil {
			return s, err
		}
		if imageMeta != "" {
			s.root = img.Manifest.Descriptor
		}
	}
	files := uploadFiles{byDigest: map[string]string{}}
	for _, l := range layers {
		meta, blobPath, ok := cut(l, "=")
		if !ok {
			return s, usagef("--layer %q: want METADATA=BLOB", l)
		}
		m, err := layer.ReadMetadata(meta)
		if err != nil {
			return s, err
		}
		files.byDigest[m.Descriptor.Digest.String()] = blobPath
	}
	s.fetch = fetchChain{mem, files}
	for _, b := range baseLayouts {
		src, err := layout.Open(ctx, b)
		if err != nil {
			s.close()
			return s, err
		}
		s.closers = append(s.closers, src.Close)
		s.fetch = append(s.fetch, src.Fetcher)
		if fi, err := os.Stat(b); err == nil && fi.IsDir() {
			rec, err := registry.ReadSources(b)
			if err != nil {
				s.close()
				return s, err
			}
			s.sources.Merge(rec)
		}
	}
	return s, nil
}
