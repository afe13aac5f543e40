package layout

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// Format names an on-disk image form.
type Format string

// The forms Open reads and the writers write.
const (
	FormatDir           Format = "oci"
	FormatArchive       Format = "oci-archive"
	FormatDockerArchive Format = "docker-archive"
)

// Source is an image read from disk: the entries of its index.json and a
// verified Fetcher for its blobs.
type Source struct {
	Format Format
	Index  ocispec.Index
	blob.Fetcher
	// Docker holds manifest.json's entries when the source has one.
	Docker []DockerManifestEntry
	close  func() error
}

// Close releases the source's file.
func (s *Source) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// Open reads an OCI layout directory, an OCI archive or a Docker archive
// (`docker save`, either the legacy form or the OCI-layout form of Docker
// 25+). A legacy Docker archive gets a synthesized OCI manifest and index,
// so that every form is read the same way with image.Resolve.
func Open(ctx context.Context, p string) (*Source, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		d, err := OpenDir(p)
		if err != nil {
			return nil, err
		}
		idx, err := d.Index()
		if err != nil {
			return nil, err
		}
		return &Source{Format: FormatDir, Index: idx, Fetcher: d}, nil
	}
	return openArchive(ctx, p)
}

type member struct{ off, size int64 }

// archive serves blobs from a plain tar file with ReadAt.
type archive struct {
	f       *os.File
	path    string
	members map[string]member
	extra   map[digest.Digest][]byte // synthesized blobs
}

func (a *archive) read(name string, max int64) ([]byte, error) {
	m, ok := a.members[name]
	if !ok {
		return nil, fmt.Errorf("%s: no %s in the archive", a.path, name)
	}
	if m.size > max {
		return nil, fmt.Errorf("%s: %s: %w: %d bytes", a.path, name, blob.ErrTooLarge, m.size)
	}
	b := make([]byte, m.size)
	_, err := a.f.ReadAt(b, m.off)
	return b, err
}

func (a *archive) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	if b, ok := a.extra[desc.Digest]; ok {
		return io.NopCloser(blob.VerifyReader(bytes.NewReader(b), desc)), nil
	}
	m, ok := a.members[blobName(desc.Digest)]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w in %s", desc.Digest, desc.MediaType, blob.ErrNotFound, a.path)
	}
	return io.NopCloser(blob.VerifyReader(io.NewSectionReader(a.f, m.off, m.size), desc)), nil
}

func openArchive(ctx context.Context, p string) (*Source, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	a := &archive{f: f, path: p, members: map[string]member{}, extra: map[digest.Digest][]byte{}}
	src, err := a.index(ctx)
	if err != nil {
		f.Close()
		return nil, err
	}
	src.close = f.Close
	return src, nil
}

func (a *archive) index(ctx context.Context) (*Source, error) {
	head := make([]byte, 4)
	if n, _ := io.ReadFull(a.f, head); reproducible.Detect(head[:n]) != reproducible.None {
		return nil, fmt.Errorf("%s: a compressed archive: decompress it first", a.path)
	}
	if _, err := a.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	tr := tar.NewReader(a.f)
	links := map[string]string{} // member: target member
	entries := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: corrupt archive: %v", a.path, err)
		}
		entries++
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		// Every name is checked, directories' too: a hostile entry is an
		// error naming it, never skipped.
		name, err := reproducible.CleanMemberPath(h.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: member %q: %w", a.path, h.Name, err)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if _, dup := a.members[name]; dup || links[name] != "" {
			return nil, fmt.Errorf("%s: member %q appears twice", a.path, h.Name)
		}
		if h.Typeflag == tar.TypeSymlink {
			// docker save before 25 and skopeo write <id>/layer.tar as a
			// symlink to a layer file of the archive: an alias, resolved
			// below, that may not point outside the archive.
			target, err := reproducible.CleanMemberPath(path.Dir(name) + "/" + h.Linkname)
			if err != nil || strings.HasPrefix(h.Linkname, "/") {
				return nil, fmt.Errorf("%s: member %q: symlink to %q: %w", a.path, h.Name, h.Linkname, reproducible.ErrUnsafePath)
			}
			links[name] = target
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: member %q: type %q: an image archive holds only files, directories and symlinks between them", a.path, h.Name, h.Typeflag)
		}
		// A GNU sparse file (PAX form) has a logical size that is not the
		// size of its bytes in the archive, which are served by offset.
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return nil, fmt.Errorf("%s: member %q: a sparse file: an image archive holds only plain files", a.path, h.Name)
			}
		}
		off, err := a.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		a.members[name] = member{off: off, size: h.Size}
	}
	if entries > 0 {
		// archive/tar ends cleanly at any block boundary, so an archive cut
		// between two members would read as a shorter one: require the
		// zero block that ends every tar.
		pos, err := a.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		var blk [512]byte
		if pos < int64(len(blk)) {
			return nil, fmt.Errorf("%s: truncated archive: no end-of-archive marker", a.path)
		}
		if _, err := a.f.ReadAt(blk[:], pos-int64(len(blk))); err != nil || blk != [512]byte{} {
			return nil, fmt.Errorf("%s: truncated archive: no end-of-archive marker", a.path)
		}
	}
	for name, target := range links {
		m, ok := a.members[target]
		for hops := 0; !ok && links[target] != "" && hops < 8; hops++ {
			target = links[target]
			m, ok = a.members[target]
		}
		if !ok {
			return nil, fmt.Errorf("%s: member %q: symlink to %q: no such file in the archive", a.path, name, links[name])
		}
		a.members[name] = m
	}
	src := &Source{Fetcher: a}
	if _, ok := a.members[DockerManifestFile]; ok {
		b, err := a.read(DockerManifestFile, blob.MaxMetadataBytes)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &src.Docker); err != nil {
			return nil, fmt.Errorf("%s: manifest.json: %v", a.path, err)
		}
	}
	if _, ok := a.members[ocispec.ImageIndexFile]; ok {
		b, err := a.read(ocispec.ImageIndexFile, blob.MaxMetadataBytes)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &src.Index); err != nil {
			return nil, fmt.Errorf("%s: index.json: %v", a.path, err)
		}
		if src.Index.Manifests == nil {
			return nil, fmt.Errorf("%s: index.json: manifests is null", a.path)
		}
		// An OCI layout must say its version, in an archive as in a
		// directory (OpenDir).
		b, err = a.read(ocispec.ImageLayoutFile, blob.MaxMetadataBytes)
		if err != nil {
			return nil, err
		}
		var il ocispec.ImageLayout
		if err := json.Unmarshal(b, &il); err != nil || il.Version != ocispec.ImageLayoutVersion {
			return nil, fmt.Errorf("%s: oci-layout: want imageLayoutVersion %q", a.path, ocispec.ImageLayoutVersion)
		}
		src.Format = FormatArchive
		if src.Docker != nil {
			src.Format = FormatDockerArchive
		}
		return src, nil
	}
	if src.Docker == nil {
		return nil, fmt.Errorf("%s: neither an OCI archive (no index.json) nor a Docker archive (no manifest.json)", a.path)
	}
	src.Format = FormatDockerArchive
	return src, a.synthesize(ctx, src)
}

// synthesize builds OCI manifests for a legacy Docker archive: the config
// file's bytes become the config blob; each layer is described by hashing it
// (its compression detected from its first bytes).
func (a *archive) synthesize(ctx context.Context, src *Source) error {
	src.Index = ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	src.Index.SchemaVersion = 2
	for i, e := range src.Docker {
		cb, err := a.read(path.Clean(e.Config), blob.MaxMetadataBytes)
		if err != nil {
			return fmt.Errorf("manifest.json[%d].Config: %w", i, err)
		}
		config := image.BlobOf(ocispec.MediaTypeImageConfig, cb)
		var layers []ocispec.Descriptor
		for j, lp := range e.Layers {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, ok := a.members[path.Clean(lp)]
			if !ok {
				return fmt.Errorf("%s: manifest.json[%d].Layers[%d]: no %s in the archive", a.path, i, j, lp)
			}
			sr := io.NewSectionReader(a.f, m.off, m.size)
			head := make([]byte, 4)
			n, _ := io.ReadFull(sr, head)
			mt := map[reproducible.Algorithm]string{reproducible.Gzip: ocispec.MediaTypeImageLayerGzip, reproducible.Zstd: ocispec.MediaTypeImageLayerZstd, reproducible.None: ocispec.MediaTypeImageLayer}[reproducible.Detect(head[:n])]
			dg, err := digest.SHA256.FromReader(io.NewSectionReader(a.f, m.off, m.size))
			if err != nil {
				return err
			}
			if want := path.Base(lp); strings.HasPrefix(path.Clean(lp), "blobs/sha256/") && want != dg.Encoded() {
				return &blob.MismatchError{Desc: ocispec.Descriptor{Digest: digest.NewDigestFromEncoded(digest.SHA256, want), MediaType: mt}, Field: "digest", Want: "sha256:" + want, Got: dg.String()}
			}
			a.members[blobName(dg)] = m
			layers = append(layers, ocispec.Descriptor{MediaType: mt, Digest: dg, Size: m.size})
		}
		mb, err := image.NewManifest(config, layers, image.ManifestOptions{})
		if err != nil {
			return err
		}
		a.extra[config.Descriptor.Digest] = cb
		a.extra[mb.Descriptor.Digest] = mb.Data
		d := mb.Descriptor
		if len(e.RepoTags) > 0 {
			d.Annotations = map[string]string{RefNameAnnotation: e.RepoTags[0]}
		}
		src.Index.Manifests = append(src.Index.Manifests, d)
	}
	return nil
}

// containerdNameAnnotation is the full name ("example.com/app:v1") Docker
// 25+ and containerd write beside ref.name, and so do our outputs.
const containerdNameAnnotation = "io.containerd.image.name"

// FindRef returns the index.json entry named ref: matched against the
// ref.name annotation, then the io.containerd.image.name annotation, then a
// Docker archive's RepoTags. "" selects the only entry. A name that several
// different images carry is an error.
func (s *Source) FindRef(ref string) (ocispec.Descriptor, error) {
	ms := s.Index.Manifests
	if ref == "" {
		if len(ms) == 1 {
			return ms[0], nil
		}
		var names []string
		for _, m := range ms {
			names = append(names, m.Annotations[RefNameAnnotation])
		}
		return ocispec.Descriptor{}, fmt.Errorf("index.json holds %d images (%s): name one", len(ms), strings.Join(names, ", "))
	}
	for _, key := range []string{RefNameAnnotation, containerdNameAnnotation} {
		var found []ocispec.Descriptor
		for _, m := range ms {
			if m.Annotations[key] == ref {
				found = append(found, m)
			}
		}
		for _, m := range found[min(1, len(found)):] {
			if m.Digest != found[0].Digest {
				return ocispec.Descriptor{}, fmt.Errorf("%s %q names several images in index.json (%s, %s): use a full name", key, ref, found[0].Digest, m.Digest)
			}
		}
		if len(found) > 0 {
			return found[0], nil
		}
	}
	for _, e := range s.Docker {
		if slices.Contains(e.RepoTags, ref) {
			return s.dockerImage(e)
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no image named %q in index.json", ref)
}

// dockerImage finds the index.json entry of manifest.json's entry e: the
// manifest whose config is e's. The two lists do not align: Docker 25+
// writes one index.json entry per tag, and none for an untagged image.
func (s *Source) dockerImage(e DockerManifestEntry) (ocispec.Descriptor, error) {
	a, ok := s.Fetcher.(*archive)
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("manifest.json outside an archive")
	}
	cb, err := a.read(path.Clean(e.Config), blob.MaxMetadataBytes)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("manifest.json Config: %w", err)
	}
	want := digest.FromBytes(cb)
	for i, m := range s.Index.Manifests {
		if m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != image.DockerManifest {
			continue
		}
		b, err := blob.ReadAll(context.Background(), a, m, blob.MaxMetadataBytes)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("index.json manifests[%d]: %w", i, err)
		}
		var man ocispec.Manifest
		if err := json.Unmarshal(b, &man); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("index.json manifests[%d]: %s: %v", i, m.Digest, err)
		}
		if man.Config.Digest == want {
			return m, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("manifest.json: the image of %v (config %s) is in no index.json entry", e.RepoTags, want)
}
