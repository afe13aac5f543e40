package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// CheckPath checks the image stored at p: an OCI image layout directory, an
// OCI archive, or a Docker archive (the OCI-layout form Docker 25+ and
// imagewriter write, or the legacy `docker save` form). The container is
// checked as well as every graph it holds: see CheckLayout. The error is
// non-nil only when p cannot be opened or the context was cancelled.
//
// A legacy Docker archive has no index.json: it is read with layout.Open,
// which describes it with OCI manifests of its own making, and the graphs
// under those are checked; problems then name those manifests' digests,
// which the archive does not hold.
func CheckPath(ctx context.Context, p string, opts Options) (*Report, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return CheckLayout(ctx, os.DirFS(p), opts)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := newChecker(nil, opts, "oci")
	t := c.readArchive(ctx, f, fi.Size())
	switch {
	case t == nil:
	case !t.has(ocispec.ImageIndexFile) && t.has(layout.DockerManifestFile):
		c.legacyDocker(ctx, p)
	default:
		c.f = fsFetcher{t}
		c.layout(ctx, t)
	}
	return c.finish(ctx)
}

// CheckLayout checks an OCI image layout read from fsys, whose root is the
// layout's directory (os.DirFS, or an archive's members): its oci-layout
// file (imageLayoutVersion 1.0.0), its index.json (an OCI index whose
// manifests is an array, whose ref.name annotations are well-formed and
// name one entry each), every graph index.json names, checked as Check
// does with OCI media types only, and, when the layout is also a Docker
// archive, manifest.json against those graphs.
func CheckLayout(ctx context.Context, fsys fs.FS, opts Options) (*Report, error) {
	c := newChecker(fsFetcher{fsys}, opts, "oci")
	c.layout(ctx, fsys)
	return c.finish(ctx)
}

const (
	layoutFileName = ocispec.ImageLayoutFile // "oci-layout"
	indexFileName  = ocispec.ImageIndexFile  // "index.json"
	dockerFileName = layout.DockerManifestFile
)

// refNameAnnotation is where index.json names an image.
var refNameAnnotation = ocispec.AnnotationRefName

// refNameRE is the grammar the image-spec gives ref.name values.
var refNameRE = regexp.MustCompile(`^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$`)

func (c *checker) layout(ctx context.Context, fsys fs.FS) {
	c.layoutFile(fsys)
	docker, dockerBad, hasDocker := c.dockerManifest(fsys)
	entries := c.layoutIndex(ctx, fsys, docker)
	for _, e := range entries {
		if c.stopped(ctx) {
			return
		}
		c.rep.Roots = append(c.rep.Roots, e.desc)
		r := c.walk(ctx, e.at, e.desc, 0)
		if e.desc.Platform != nil {
			c.entryPlatform(e.at, e.desc, r)
		}
	}
	if hasDocker && c.opts.Ref == "" && c.opts.Platform == nil {
		c.dockerImages(fsys, docker, dockerBad)
	}
}

// readFile reads a small file of the layout, capped. missing, when not
// "", is the problem an absent file is.
func (c *checker) readFile(fsys fs.FS, name, missing string) ([]byte, bool) {
	at := location{blob: name}
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		if missing != "" {
			c.problem(at, blob.ErrNotFound, "%s", missing)
		}
		return nil, false
	}
	if err != nil {
		c.problem(at, nil, "open: %v", err)
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, blob.MaxMetadataBytes+1))
	if err != nil {
		c.problem(at, nil, "read: %v", err)
		return nil, false
	}
	if len(b) > blob.MaxMetadataBytes {
		c.problem(at, blob.ErrTooLarge, "more than %d bytes", blob.MaxMetadataBytes)
		return nil, false
	}
	c.rep.Bytes += int64(len(b))
	return b, true
}

func (c *checker) layoutFile(fsys fs.FS) {
	b, ok := c.readFile(fsys, layoutFileName, "missing: not an OCI image layout")
	if !ok {
		return
	}
	m, ok := c.decodeObject(layoutFileName, b)
	if !ok {
		return
	}
	var l ocispec.ImageLayout
	bad := c.decodeTyped(layoutFileName, b, m, &l)
	at := location{layoutFileName, "imageLayoutVersion"}
	switch {
	case bad.has(at.path):
	case m[at.path] == nil:
		c.problem(at, ErrInvalid, "missing: want %q", ocispec.ImageLayoutVersion)
	case l.Version != ocispec.ImageLayoutVersion:
		c.problem(at, ErrInvalid, "%q: want %q", l.Version, ocispec.ImageLayoutVersion)
	}
}

type layoutEntry struct {
	at   location
	desc ocispec.Descriptor
}

// layoutIndex checks index.json and returns the entries to walk.
func (c *checker) layoutIndex(ctx context.Context, fsys fs.FS, docker []layout.DockerManifestEntry) []layoutEntry {
	b, ok := c.readFile(fsys, indexFileName, "missing: not an OCI image layout")
	if !ok {
		return nil
	}
	m, ok := c.decodeObject(indexFileName, b)
	if !ok {
		return nil
	}
	var idx ocispec.Index
	bad := c.decodeTyped(indexFileName, b, m, &idx)
	c.schemaVersion(indexFileName, m, idx.SchemaVersion, bad)
	if mt, ok := m["mediaType"].(string); ok && mt != ocispec.MediaTypeImageIndex {
		err := ErrInvalid
		if familyOf(mt) == "docker" {
			err = image.ErrMediaTypeMix
		}
		c.problem(location{indexFileName, "mediaType"}, err, "%s: want %s", mt, ocispec.MediaTypeImageIndex)
	}
	if !c.manifestsArray(indexFileName, m, bad) {
		return nil
	}
	// A ref.name may repeat (Docker 25+ writes the bare tag, and two images
	// may share one) when the full names differ; the same pair twice names
	// two images one way.
	type name struct{ ref, full string }
	names := map[name]int{}
	var entries []layoutEntry
	for i, d := range idx.Manifests {
		at := location{indexFileName, "manifests[" + strconv.Itoa(i) + "]"}
		if bad.under(at.path) {
			continue
		}
		entries = append(entries, layoutEntry{at, d})
		ref, named := d.Annotations[refNameAnnotation]
		if !named {
			continue
		}
		rat := location{indexFileName, at.path + ".annotations[" + strconv.Quote(refNameAnnotation) + "]"}
		if !refNameRE.MatchString(ref) {
			c.problem(rat, ErrInvalid, "%q is not a reference name (the image-spec's ref grammar)", ref)
		}
		n := name{ref, d.Annotations[containerdNameAnnotation]}
		if j, dup := names[n]; dup && idx.Manifests[j].Digest != d.Digest {
			c.problem(rat, ErrInvalid, "%q names manifests[%d] too, another image", ref, j)
		} else if !dup {
			names[n] = i
		}
	}
	selected := c.selectRef(ctx, entries, docker)
	var out []layoutEntry
	for i, e := range entries {
		switch {
		case !selected[i]:
			c.descriptor(e.at, e.desc)
		case c.opts.Platform != nil && e.desc.Platform != nil && !image.MatchPlatform(*c.opts.Platform, *e.desc.Platform):
			c.descriptor(e.at, e.desc)
		default:
			out = append(out, e)
		}
	}
	return out
}

// containerdNameAnnotation is the full name Docker 25+, containerd and
// imagewriter write beside ref.name.
const containerdNameAnnotation = "io.containerd.image.name"

// selectRef marks the index.json entries Options.Ref names, as
// layout.Source.FindRef finds them: by ref.name, else by full name, else
// as a Docker archive's RepoTag, whose image is the manifest with that
// entry's config (manifest.json and index.json do not align).
func (c *checker) selectRef(ctx context.Context, entries []layoutEntry, docker []layout.DockerManifestEntry) []bool {
	selected := make([]bool, len(entries))
	if c.opts.Ref == "" {
		for i := range selected {
			selected[i] = true
		}
		return selected
	}
	for _, key := range []string{refNameAnnotation, containerdNameAnnotation} {
		found := false
		for i, e := range entries {
			if e.desc.Annotations[key] == c.opts.Ref {
				selected[i], found = true, true
			}
		}
		if found {
			return selected
		}
	}
	found := false
	for _, de := range docker {
		cd, ok := blobPathDigest(de.Config)
		if !ok || !slices.Contains(de.RepoTags, c.opts.Ref) {
			continue
		}
		for i, e := range entries {
			if c.manifestConfig(ctx, e.desc) == cd {
				selected[i], found = true, true
			}
		}
	}
	if !found {
		c.problem(location{indexFileName, "manifests"}, blob.ErrNotFound, "no entry is named %q", c.opts.Ref)
	}
	return selected
}

// manifestConfig reads the config digest of the manifest d names, or ""
// (the walk reports what is wrong with it).
func (c *checker) manifestConfig(ctx context.Context, d ocispec.Descriptor) digest.Digest {
	if kindOfType(d.MediaType) != kindManifest || blob.ValidateDescriptor(d) != nil {
		return ""
	}
	b, err := blob.ReadAll(ctx, c.f, d, blob.MaxMetadataBytes)
	if err != nil {
		return ""
	}
	var m ocispec.Manifest
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	return m.Config.Digest
}

// dockerManifest reads a Docker archive's manifest.json, if there is one.
func (c *checker) dockerManifest(fsys fs.FS) ([]layout.DockerManifestEntry, badPaths, bool) {
	b, ok := c.readFile(fsys, dockerFileName, "")
	if !ok {
		return nil, nil, false
	}
	v, ok := c.decodeJSON(dockerFileName, b)
	if !ok {
		return nil, nil, false
	}
	if _, ok := v.([]any); !ok {
		c.problem(location{blob: dockerFileName}, ErrInvalid, "is %s, want an array", describeJSON(v))
		return nil, nil, false
	}
	var entries []layout.DockerManifestEntry
	bad := badPaths{}
	typeCheck(v, reflect.TypeOf(entries), "", func(path, what string) {
		bad[path] = true
		c.problem(location{dockerFileName, path}, ErrInvalid, "%s", what)
	})
	if err := json.Unmarshal(b, &entries); err != nil && len(bad) == 0 {
		c.problem(location{blob: dockerFileName}, ErrInvalid, "%v", err)
	}
	return entries, bad, true
}

// dockerImages checks that each manifest.json entry is an image of the
// layout: its Config the config, and its Layers the layers, of an image
// manifest index.json reaches; or, for names outside blobs/, files the
// archive holds.
func (c *checker) dockerImages(fsys fs.FS, entries []layout.DockerManifestEntry, bad badPaths) {
	for i, e := range entries {
		at := location{dockerFileName, "[" + strconv.Itoa(i) + "]"}
		if bad.under(at.path) {
			continue
		}
		if e.Config == "" {
			c.problem(at.field("Config"), ErrInvalid, "missing")
			continue
		}
		cd, ok := blobPathDigest(e.Config)
		if !ok {
			c.fileExists(fsys, at.field("Config"), e.Config)
			for j, l := range e.Layers {
				c.fileExists(fsys, location{at.blob, at.path + ".Layers[" + strconv.Itoa(j) + "]"}, l)
			}
			continue
		}
		var match *imageRecord
		for k := range c.images {
			if c.images[k].config == cd {
				if match == nil || slices.Equal(c.images[k].layers, layerDigests(e.Layers)) {
					match = &c.images[k]
				}
			}
		}
		if match == nil {
			c.problem(at.field("Config"), ErrInvalid, "%q: %s is the config of no image index.json names", e.Config, cd)
			continue
		}
		if len(e.Layers) != len(match.layers) {
			c.problem(at.field("Layers"), ErrInvalid, "%d layers, but the image with config %s has %d", len(e.Layers), cd, len(match.layers))
			continue
		}
		for j, l := range e.Layers {
			if d, ok := blobPathDigest(l); !ok || d != match.layers[j] {
				c.problem(location{at.blob, at.path + ".Layers[" + strconv.Itoa(j) + "]"}, ErrInvalid, "%q, but layers[%d] of the image with config %s is %s", l, j, cd, match.layers[j])
			}
		}
	}
}

func (c *checker) fileExists(fsys fs.FS, at location, name string) {
	p := path.Clean(name)
	if _, err := fs.Stat(fsys, p); err != nil || !fs.ValidPath(p) {
		c.problem(at, blob.ErrNotFound, "%q: no such file in the archive", name)
	}
}

// blobPathDigest reads "blobs/ALG/ENCODED" as a digest.
func blobPathDigest(p string) (digest.Digest, bool) {
	parts := strings.Split(path.Clean(p), "/")
	if len(parts) != 3 || parts[0] != ocispec.ImageBlobsDir {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	return d, d.Validate() == nil
}

func layerDigests(paths []string) []digest.Digest {
	out := make([]digest.Digest, len(paths))
	for i, p := range paths {
		out[i], _ = blobPathDigest(p)
	}
	return out
}

// legacyDocker checks a `docker save` archive without index.json through
// the OCI description layout.Open makes of it.
func (c *checker) legacyDocker(ctx context.Context, p string) {
	src, err := layout.Open(ctx, p)
	if err != nil {
		if !c.stopped(ctx) {
			c.problem(location{blob: "archive"}, ErrInvalid, "%v", err)
		}
		return
	}
	defer src.Close()
	c.f = src
	for i, d := range src.Index.Manifests {
		if c.opts.Ref != "" && !(i < len(src.Docker) && slices.Contains(src.Docker[i].RepoTags, c.opts.Ref)) {
			continue
		}
		c.rep.Roots = append(c.rep.Roots, d)
		c.walk(ctx, location{dockerFileName, "[" + strconv.Itoa(i) + "]"}, d, 0)
	}
	if c.opts.Ref != "" && len(c.rep.Roots) == 0 {
		c.problem(location{blob: dockerFileName}, blob.ErrNotFound, "no entry has the RepoTag %q", c.opts.Ref)
	}
}

// fsFetcher serves the blobs of a layout from its blobs/ALG/ENCODED files,
// verified.
type fsFetcher struct{ fsys fs.FS }

func (f fsFetcher) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	name := path.Join(ocispec.ImageBlobsDir, desc.Digest.Algorithm().String(), desc.Digest.Encoded())
	file, err := f.fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s %s: %w", desc.Digest, desc.MediaType, blob.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{blob.VerifyReader(file, desc), file}, nil
}
