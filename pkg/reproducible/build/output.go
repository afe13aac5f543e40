package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// Blobs says where the layer blobs of an output are.
type Blobs struct {
	// Files are blobs built by imagewriter, described by their metadata:
	// trusted, hard-linked without reading.
	Files map[digest.Digest]string
	// Fetchers serve other blobs (a base image's), verified on read.
	Fetchers []blob.Fetcher
}

// AddLayer records a built layer's blob file.
func (b *Blobs) AddLayer(d ocispec.Descriptor, path string) {
	if b.Files == nil {
		b.Files = map[digest.Digest]string{}
	}
	b.Files[d.Digest] = path
}

func (b *Blobs) add(ctx context.Context, l *layout.Layout, d ocispec.Descriptor) error {
	if p, ok := b.Files[d.Digest]; ok {
		l.AddFile(d, p)
		return nil
	}
	// A layout directory that holds the blob gives a file to link; other
	// fetchers (archives) cannot say what they hold without a fetch, so the
	// blob is fetched from the first of them that has it.
	var others firstFound
	for _, f := range b.Fetchers {
		if dir, ok := f.(layout.Dir); ok {
			if ok, _ := dir.Exists(ctx, d); ok {
				l.AddUntrustedFile(d, dir.BlobPath(d.Digest))
				return nil
			}
			continue
		}
		if s, ok := f.(blob.Store); ok {
			if ok, _ := s.Exists(ctx, d); !ok {
				continue
			}
		}
		others = append(others, f)
	}
	if len(others) > 0 {
		l.AddFetched(d, others)
		return nil
	}
	return fmt.Errorf("layer %s %s: %w: no layer file or base image holds it", d.Digest, d.MediaType, blob.ErrNotFound)
}

// firstFound fetches a blob from the first fetcher that has it.
type firstFound []blob.Fetcher

func (fs firstFound) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	var err error
	for _, f := range fs {
		rc, ferr := f.Fetch(ctx, d)
		if ferr == nil {
			return rc, nil
		}
		if !errors.Is(ferr, blob.ErrNotFound) {
			return nil, ferr
		}
		err = ferr
	}
	return nil, err
}

// ContainerdImageNameAnnotation carries the full "repository:tag" of an
// index.json entry, as Docker 25+ `docker save` and containerd write it.
// podman load (containers/common libimage) names an image loaded from an OCI
// archive after it, and falls back to the bare ref.name tag otherwise: a
// docker archive tagged example.com/hello:v1 would load as localhost/v1.
const ContainerdImageNameAnnotation = "io.containerd.image.name"

// Output is what to write and how.
type Output struct {
	Format layout.Format
	// Tag is "repository:tag", "repository" (tag "latest") or "" (no name).
	Tag string
	// Exactly one of Image and Index.
	Image *image.Image
	Index *IndexMetadata
}

// Write writes out to dst, atomically.
func Write(ctx context.Context, dst string, out Output, blobs Blobs) error {
	var repoTag, tag string
	if out.Tag != "" {
		r, err := ParseTag(out.Tag)
		if err != nil {
			return fmt.Errorf("tag: %w", err)
		}
		repoTag, tag = r.Repository+":"+r.Tag, r.Tag
	}
	l := layout.New()
	// name is the index.json entry of the output: the descriptor, with the
	// full name for podman load and containerd beside the bare tag.
	name := func(d ocispec.Descriptor) ocispec.Descriptor {
		if repoTag != "" {
			d.Annotations = map[string]string{ContainerdImageNameAnnotation: repoTag}
		}
		return d
	}
	var images []image.Image
	switch {
	case out.Image != nil && out.Index == nil:
		images = []image.Image{*out.Image}
		l.Tag(name(out.Image.Manifest.Descriptor), tag)
	case out.Index != nil && out.Image == nil:
		idx, err := out.Index.Index.Blob()
		if err != nil {
			return err
		}
		l.AddBlob(idx)
		l.Tag(name(idx.Descriptor), tag)
		for _, m := range out.Index.Images {
			img, err := m.Image()
			if err != nil {
				return err
			}
			images = append(images, img)
		}
	default:
		return fmt.Errorf("output: give an image or an index")
	}
	for _, img := range images {
		l.AddImage(img)
		for _, d := range img.Layers {
			if err := blobs.add(ctx, l, d); err != nil {
				return err
			}
		}
	}
	switch out.Format {
	case layout.FormatDir, "":
		return layout.WriteDir(ctx, dst, l)
	case layout.FormatArchive:
		return layout.WriteArchive(ctx, dst, l)
	case layout.FormatDockerArchive:
		if len(images) != 1 || out.Index != nil {
			return fmt.Errorf("docker-archive holds one platform's image: build with a single platform")
		}
		var tags []string
		if repoTag != "" {
			tags = []string{repoTag}
		}
		return layout.WriteDockerArchive(ctx, dst, l, images[0], tags)
	}
	return fmt.Errorf("format %q: want oci, oci-archive or docker-archive", out.Format)
}

// Reference is a parsed image reference.
type Reference struct {
	Registry   string // "" when the reference names none
	Repository string // with the registry, e.g. "example.com/app"
	Tag        string
	Digest     digest.Digest
}

var (
	tagRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostRE      = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$`)
)

// ParseReference parses "[host[:port]/]path[:tag][@digest]" as the
// distribution reference grammar defines it. Without a tag or digest the
// tag is "latest".
func ParseReference(s string) (Reference, error) {
	bad := func(why string) (Reference, error) {
		return Reference{}, fmt.Errorf("reference %q: %s", s, why)
	}
	var r Reference
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		d, err := digest.Parse(name[i+1:])
		if err != nil {
			return bad("digest: " + err.Error())
		}
		r.Digest, name = d, name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i+1:], "/") {
		r.Tag, name = name[i+1:], name[:i]
		if !tagRE.MatchString(r.Tag) {
			return bad("tag " + r.Tag + " is not valid")
		}
	}
	if name == "" {
		return bad("no repository")
	}
	parts := strings.Split(name, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:[") || parts[0] == "localhost") {
		if !hostRE.MatchString(parts[0]) {
			return bad("registry host " + parts[0] + " is not valid")
		}
		r.Registry = parts[0]
		parts = parts[1:]
	}
	for _, p := range parts {
		if !componentRE.MatchString(p) {
			return bad("path component " + fmt.Sprintf("%q", p) + " is not valid (lowercase letters, digits and separators)")
		}
	}
	r.Repository = name
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// ParseTag parses the name of an output, "repository[:tag]": a reference
// without a digest.
func ParseTag(s string) (Reference, error) {
	r, err := ParseReference(s)
	if err != nil {
		return Reference{}, err
	}
	if r.Digest != "" {
		return Reference{}, fmt.Errorf("reference %q: a digest cannot name an output", s)
	}
	return r, nil
}

// String formats the reference.
func (r Reference) String() string {
	s := r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}
