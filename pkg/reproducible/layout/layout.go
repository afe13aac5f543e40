// Package layout writes and reads the on-disk forms of images: the OCI image
// layout directory, the OCI archive (a tar of that directory) and the Docker
// archive (`docker save` form, in the OCI-layout shape Docker 25+ writes, so
// one tar is both). Writers never copy a blob that can be hard-linked, and
// every output appears atomically.
package layout

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// RefNameAnnotation names an image in index.json: the bare tag ("v1"),
// which is how skopeo and umoci address images in a layout.
const RefNameAnnotation = ocispec.AnnotationRefName

// Layout is the content of an output: the entries of index.json and the
// blobs they reach. Blobs are added as bytes, as files (hard-linked into a
// directory when possible) or as descriptors to fetch from a Fetcher.
type Layout struct {
	manifests []ocispec.Descriptor
	blobs     map[digest.Digest]source
}

type source struct {
	desc  ocispec.Descriptor
	data  []byte
	path  string       // a file holding the blob
	fetch blob.Fetcher // or a fetcher that has it
	// verify: the file is not ours (a base image's); check it when linked.
	verify bool
}

// New returns an empty layout.
func New() *Layout { return &Layout{blobs: map[digest.Digest]source{}} }

// AddBlob adds bytes.
func (l *Layout) AddBlob(b image.Blob) { l.add(source{desc: b.Descriptor, data: b.Data}) }

// AddFile adds a blob held in a file the writer trusts (built by
// imagewriter, described by its metadata): it is linked without reading.
func (l *Layout) AddFile(desc ocispec.Descriptor, path string) { l.add(source{desc: desc, path: path}) }

// AddUntrustedFile adds a blob from a file whose content must be verified
// against desc before it is used (a base image's blob).
func (l *Layout) AddUntrustedFile(desc ocispec.Descriptor, path string) {
	l.add(source{desc: desc, path: path, verify: true})
}

// AddFetched adds a blob to be read, verified, from f when written.
func (l *Layout) AddFetched(desc ocispec.Descriptor, f blob.Fetcher) {
	l.add(source{desc: desc, fetch: f})
}

func (l *Layout) add(s source) {
	if old, ok := l.blobs[s.desc.Digest]; ok && old.cost() <= s.cost() {
		return // keep the cheapest source known
	}
	l.blobs[s.desc.Digest] = s
}

// cost ranks the ways to write a blob: link a trusted file (no read), read
// and link an untrusted one, write bytes, fetch and write.
func (s source) cost() int {
	switch {
	case s.path != "" && !s.verify:
		return 0
	case s.path != "":
		return 1
	case s.data != nil:
		return 2
	}
	return 3
}

// AddImage adds an image's manifest and config bytes; layers must be added
// separately (they are not in image.Image).
func (l *Layout) AddImage(img image.Image) {
	l.AddBlob(img.Manifest)
	l.AddBlob(img.Config)
}

// Tag adds an entry to index.json: desc (a manifest or index) named by ref,
// the bare tag, in org.opencontainers.image.ref.name ("" adds no name).
func (l *Layout) Tag(desc ocispec.Descriptor, ref string) {
	d := desc
	d.Annotations = maps.Clone(desc.Annotations)
	if ref != "" {
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[RefNameAnnotation] = ref
	}
	l.manifests = append(l.manifests, d)
}

// Index returns index.json's content: entries in the order they were
// tagged, which the caller controls.
func (l *Layout) Index() ocispec.Index {
	ms := slices.Clone(l.manifests)
	if ms == nil {
		ms = []ocispec.Descriptor{}
	}
	return ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: ms}
}

// Digests returns the digests of every blob, sorted.
func (l *Layout) Digests() []digest.Digest { return slices.Sorted(maps.Keys(l.blobs)) }

// Check reports a layout whose index.json names a blob it lacks, or a blob
// whose descriptor is malformed: its digest becomes a path in the layout, so
// "sha256:../../x" must never reach a writer.
func (l *Layout) Check() error {
	for _, dg := range l.Digests() {
		if err := blob.ValidateDescriptor(l.blobs[dg].desc); err != nil {
			return err
		}
	}
	for i, m := range l.manifests {
		if _, ok := l.blobs[m.Digest]; !ok {
			return fmt.Errorf("index.json manifests[%d]: %s %s: %w", i, m.Digest, m.MediaType, blob.ErrNotFound)
		}
	}
	return nil
}

// wrap names the file an error while copying the blob came from; the
// errors of verified reads already name the digest and media type.
func (s source) wrap(err error) error {
	if err != nil && s.path != "" {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return err
}

// open returns the verified bytes of a blob.
func (s source) open(ctx context.Context) (io.ReadCloser, error) {
	switch {
	case s.data != nil:
		return io.NopCloser(blob.VerifyReader(newBytesReader(s.data), s.desc)), nil
	case s.path != "":
		f, err := os.Open(s.path)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", s.desc.Digest, s.desc.MediaType, err)
		}
		return struct {
			io.Reader
			io.Closer
		}{blob.VerifyReader(f, s.desc), f}, nil
	case s.fetch != nil:
		return s.fetch.Fetch(ctx, s.desc)
	}
	return nil, fmt.Errorf("%s: no source", s.desc.Digest)
}
