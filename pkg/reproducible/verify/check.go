// Package verify checks images: it walks a graph from its top (index →
// manifests → config and layers), checks every descriptor, blob and field
// against the OCI image-spec and the writer's own rules, and reports every
// problem it finds, each with where it is. It never stops at the first.
//
// Check walks a graph from any blob.Fetcher; CheckLayout and CheckPath also
// check the container the graph is stored in (an OCI image layout
// directory, an OCI archive or a Docker archive). docs/verify.md lists the
// checks.
package verify

import (
	"context"
	_ "crypto/sha256" // digest algorithms go-digest can verify
	_ "crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// Sentinels that problems wrap, besides blob.ErrNotFound,
// blob.ErrDigestMismatch, blob.ErrSizeMismatch, blob.ErrTooLarge,
// image.ErrMediaTypeMix, layer.ErrDuplicatePath, layer.ErrUnsafePath and
// layer.ErrBadTar.
var (
	// ErrMediaType: a descriptor's media type disagrees with the content it
	// describes (a +zstd layer that is gzip, an index entry typed as an
	// index whose blob is a manifest).
	ErrMediaType = errors.New("media type does not match the content")
	// ErrDiffID: a diff_id is not the digest of its layer's uncompressed tar.
	ErrDiffID = errors.New("diff_id mismatch")
	// ErrInvalid: a field is missing, of the wrong JSON type, or breaks the
	// image-spec or the writer's rules.
	ErrInvalid = errors.New("invalid")
)

// Options change what Check looks at. The zero value checks everything.
type Options struct {
	// Fast skips reading layers past their first bytes: a layer's
	// existence and compression are checked, but not its size, digest,
	// diff_id or entries. Descriptors and JSON blobs are checked in full.
	Fast bool
	// Platform, when set, walks only the index entries for this platform
	// (image.MatchPlatform); the others are checked as descriptors only.
	Platform *ocispec.Platform
	// Ref, for layouts, walks only the index.json entries named Ref (their
	// org.opencontainers.image.ref.name, or a Docker archive's RepoTags).
	// "" walks every entry. Check ignores it.
	Ref string
}

// Problem is one thing wrong, and where it is.
type Problem struct {
	// Blob is what holds the problem: a digest, a file of the layout
	// ("oci-layout", "index.json", "manifest.json"), "archive" for the tar
	// that holds a layout, or "root" for the descriptor Check was given.
	Blob string
	// Path is where in Blob: a JSON path ("layers[1].size",
	// "rootfs.diff_ids[0]", "os"), an entry of a layer ("etc/passwd"), or ""
	// for the blob as a whole.
	Path string
	// What is wrong.
	What string
	// Err is the sentinel the problem matches under errors.Is, or nil.
	Err error
}

// Where is Blob and Path, as printed.
func (p Problem) Where() string {
	if p.Path == "" {
		return p.Blob
	}
	return p.Blob + " " + p.Path
}

// Error is "where: what".
func (p Problem) Error() string { return p.Where() + ": " + p.What }

// Unwrap returns the sentinel.
func (p Problem) Unwrap() error { return p.Err }

// MarshalJSON writes where, blob, path and what.
func (p Problem) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Where string `json:"where"`
		Blob  string `json:"blob"`
		Path  string `json:"path,omitempty"`
		What  string `json:"what"`
	}{p.Where(), p.Blob, p.Path, p.What})
}

// Report is what a check found.
type Report struct {
	// Roots are the descriptors the walk started from: Check's root, or the
	// index.json entries a layout check walked.
	Roots []ocispec.Descriptor `json:"roots"`
	// Problems, in the order the walk met them; each is reported once.
	Problems []Problem `json:"problems"`
	// Indexes, Manifests and Layers count the distinct blobs checked.
	Indexes   int `json:"indexes"`
	Manifests int `json:"manifests"`
	Layers    int `json:"layers"`
	// Bytes is how many blob bytes were read and verified.
	Bytes int64 `json:"bytes"`
	// Fast says layers were not read in full (Options.Fast).
	Fast bool `json:"fast,omitempty"`
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Err joins every problem (errors.Join), or is nil when there is none.
func (r *Report) Err() error {
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Check walks the graph under root, read from f, and reports every problem.
// The error is not about the image: it is non-nil only when the check could
// not finish (the context was cancelled), and the report then holds what
// was found so far. Problems are in the report (Report.Err joins them).
//
// Docker and OCI media types must not be mixed: the root's media type
// decides which family the graph is.
func Check(ctx context.Context, f blob.Fetcher, root ocispec.Descriptor, opts Options) (*Report, error) {
	c := newChecker(f, opts, familyOf(root.MediaType))
	c.rep.Roots = []ocispec.Descriptor{root}
	c.walk(ctx, location{blob: "root"}, root, 0)
	return c.finish(ctx)
}

// maxDepth bounds nested indexes.
const maxDepth = 8

// checker holds one walk's state: the report and what was already read,
// so that a blob several manifests share is read once.
type checker struct {
	f      blob.Fetcher
	opts   Options
	family string // "oci", "docker" or "" (no rule)
	rep    *Report
	seen   map[string]bool // problems already reported
	nodes  map[blobKey]nodeResult
	cfgs   map[blobKey]*configResult
	layers map[layerKey]layerResult
	// layerDigests and manifestDigests count distinct blobs.
	layerDigests map[digest.Digest]bool
	// images records each walked image manifest's config and layers, for
	// the Docker manifest.json check.
	images []imageRecord
	err    error // the context's error, once it is cancelled
}

type blobKey struct {
	d    digest.Digest
	size int64
}

type imageRecord struct {
	config digest.Digest
	layers []digest.Digest
}

func newChecker(f blob.Fetcher, opts Options, family string) *checker {
	return &checker{
		f: f, opts: opts, family: family,
		rep:          &Report{Problems: []Problem{}, Fast: opts.Fast},
		seen:         map[string]bool{},
		nodes:        map[blobKey]nodeResult{},
		cfgs:         map[blobKey]*configResult{},
		layers:       map[layerKey]layerResult{},
		layerDigests: map[digest.Digest]bool{},
	}
}

func (c *checker) finish(ctx context.Context) (*Report, error) {
	if c.err == nil {
		c.err = ctx.Err()
	}
	return c.rep, c.err
}

// stopped reports whether the walk must end (the context is done).
func (c *checker) stopped(ctx context.Context) bool {
	if c.err == nil {
		c.err = ctx.Err()
	}
	return c.err != nil
}

// location names a descriptor or field: the blob that holds it and the JSON
// path inside.
type location struct{ blob, path string }

func (l location) field(name string) location { return location{l.blob, joinField(l.path, name)} }

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (c *checker) problem(where location, err error, format string, args ...any) {
	p := Problem{Blob: where.blob, Path: where.path, What: fmt.Sprintf(format, args...), Err: err}
	if k := p.Error(); !c.seen[k] {
		c.seen[k] = true
		c.rep.Problems = append(c.rep.Problems, p)
	}
}

// kind is what a JSON blob is.
type kind int

const (
	kindOther kind = iota
	kindIndex
	kindManifest
)

func (k kind) String() string {
	switch k {
	case kindIndex:
		return "an index"
	case kindManifest:
		return "an image manifest"
	}
	return "neither an index nor an image manifest"
}

func kindOfType(mt string) kind {
	switch mt {
	case ocispec.MediaTypeImageIndex, image.DockerManifestList:
		return kindIndex
	case ocispec.MediaTypeImageManifest, image.DockerManifest:
		return kindManifest
	}
	return kindOther
}

// familyOf says whether a media type is OCI's, Docker's or neither's.
func familyOf(mt string) string {
	switch {
	case strings.HasPrefix(mt, "application/vnd.oci."):
		return "oci"
	case strings.HasPrefix(mt, "application/vnd.docker."):
		return "docker"
	}
	return ""
}

var familyName = map[string]string{"oci": "an OCI", "docker": "a Docker"}

// mediaTypeRE is RFC 6838's type/subtype grammar, as the image-spec's
// schema checks it.
var mediaTypeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)

// descriptor checks what a descriptor says by itself: media type, digest
// grammar, size, embedded data and the media type family. It reports
// whether the digest can address a blob.
func (c *checker) descriptor(at location, d ocispec.Descriptor) bool {
	switch fam := familyOf(d.MediaType); {
	case d.MediaType == "":
		c.problem(at.field("mediaType"), ErrInvalid, "missing")
	case !mediaTypeRE.MatchString(d.MediaType):
		c.problem(at.field("mediaType"), ErrInvalid, "%q is not a media type", d.MediaType)
	case c.family != "" && fam != "" && fam != c.family:
		c.problem(at.field("mediaType"), image.ErrMediaTypeMix, "%s: %s media type in %s graph", d.MediaType, familyName[fam], familyName[c.family])
	}
	ok := true
	if err := d.Digest.Validate(); err != nil {
		c.problem(at.field("digest"), ErrInvalid, "%q: %v", d.Digest, err)
		ok = false
	} else if a := d.Digest.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
		c.problem(at.field("digest"), ErrInvalid, "%s: algorithm %s: want sha256 or sha512", d.Digest, a)
		ok = false
	}
	if d.Size < 0 {
		c.problem(at.field("size"), ErrInvalid, "%d: negative", d.Size)
		ok = false
	}
	if d.Data != nil && ok {
		if int64(len(d.Data)) != d.Size {
			c.problem(at.field("data"), blob.ErrSizeMismatch, "%d bytes, but size is %d", len(d.Data), d.Size)
		} else if got := d.Digest.Algorithm().FromBytes(d.Data); got != d.Digest {
			c.problem(at.field("data"), blob.ErrDigestMismatch, "hashes to %s, not %s", got, d.Digest)
		}
	}
	return ok
}

// fetchProblem reports an error reading the blob d that at names: a
// missing blob or a digest mismatch is the blob's problem; a size mismatch
// is the descriptor's.
func (c *checker) fetchProblem(ctx context.Context, at location, d ocispec.Descriptor, err error) {
	if c.stopped(ctx) {
		return
	}
	self := location{blob: d.Digest.String()}
	var mm *blob.MismatchError
	switch {
	case errors.Is(err, blob.ErrNotFound):
		c.problem(self, blob.ErrNotFound, "blob not found (named by %s)", at.Where())
	case errors.As(err, &mm) && mm.Field == "size":
		got := mm.Got + " bytes"
		if mm.Got == "more" {
			got = "more bytes"
		}
		c.problem(at.field("size"), blob.ErrSizeMismatch, "%d, but the blob %s has %s", d.Size, d.Digest, got)
	case errors.As(err, &mm):
		c.problem(self, blob.ErrDigestMismatch, "the bytes hash to %s", mm.Got)
	case errors.Is(err, blob.ErrTooLarge):
		c.problem(at.field("size"), blob.ErrTooLarge, "%d: more than the %d bytes a manifest, index or config may have", d.Size, blob.MaxMetadataBytes)
	default:
		c.problem(self, nil, "read: %v", err)
	}
}

// Where is the location as Problem.Where prints it.
func (l location) Where() string { return Problem{Blob: l.blob, Path: l.path}.Where() }

// nodeResult is what a manifest or index blob turned out to be.
type nodeResult struct {
	read      bool   // the blob was read and is JSON
	kind      kind   // by its content
	mediaType string // its own mediaType field
	// platform is an image manifest's config platform, when the config
	// states it validly.
	platform *ocispec.Platform
}

// walk checks the blob desc names (found at `at`) and everything below it.
func (c *checker) walk(ctx context.Context, at location, desc ocispec.Descriptor, depth int) nodeResult {
	if c.stopped(ctx) || !c.descriptor(at, desc) {
		return nodeResult{}
	}
	want := kindOfType(desc.MediaType)
	if want == kindOther {
		c.stream(ctx, at, desc)
		return nodeResult{}
	}
	if depth > maxDepth {
		c.problem(at, ErrInvalid, "indexes nested more than %d deep", maxDepth)
		return nodeResult{}
	}
	key := blobKey{desc.Digest, desc.Size}
	r, ok := c.nodes[key]
	if !ok {
		c.nodes[key] = nodeResult{} // a blob cannot contain its own digest; this stops fuzzed loops
		r = c.readNode(ctx, at, desc, depth)
		c.nodes[key] = r
	}
	if !r.read {
		return r
	}
	switch {
	case r.mediaType != "" && r.mediaType != desc.MediaType:
		c.problem(at.field("mediaType"), ErrMediaType, "%s, but the blob's mediaType is %s", desc.MediaType, r.mediaType)
	case r.mediaType == "" && r.kind != kindOther && r.kind != want:
		c.problem(at.field("mediaType"), ErrMediaType, "%s, but the blob is %s", desc.MediaType, r.kind)
	}
	return r
}

func (c *checker) readNode(ctx context.Context, at location, desc ocispec.Descriptor, depth int) nodeResult {
	b, ok := c.readJSON(ctx, at, desc)
	if !ok {
		return nodeResult{}
	}
	name := desc.Digest.String()
	m, ok := c.decodeObject(name, b)
	if !ok {
		return nodeResult{}
	}
	r := nodeResult{read: true, kind: kindOfContent(m, desc.MediaType)}
	r.mediaType, _ = m["mediaType"].(string)
	switch r.kind {
	case kindIndex:
		c.rep.Indexes++
		c.index(ctx, name, b, m, depth)
	case kindManifest:
		c.rep.Manifests++
		r.platform = c.manifest(ctx, name, b, m)
	}
	return r
}

// kindOfContent decides what a JSON blob is: by its mediaType field, else
// by its shape, else by what its descriptor says.
func kindOfContent(m map[string]any, descType string) kind {
	if mt, ok := m["mediaType"].(string); ok && mt != "" {
		return kindOfType(mt)
	}
	if _, ok := m["manifests"]; ok {
		return kindIndex
	}
	_, config := m["config"]
	_, layers := m["layers"]
	if config || layers {
		return kindManifest
	}
	return kindOfType(descType)
}

// readJSON reads a manifest, index or config, capped before allocating.
func (c *checker) readJSON(ctx context.Context, at location, desc ocispec.Descriptor) ([]byte, bool) {
	if desc.Size > blob.MaxMetadataBytes {
		c.fetchProblem(ctx, at, desc, blob.ErrTooLarge)
		return nil, false
	}
	b, err := blob.ReadAll(ctx, c.f, desc, blob.MaxMetadataBytes)
	if err != nil {
		c.fetchProblem(ctx, at, desc, err)
		return nil, false
	}
	c.rep.Bytes += int64(len(b))
	return b, true
}

func (c *checker) schemaVersion(name string, m map[string]any, v int, bad badPaths) {
	at := location{name, "schemaVersion"}
	switch {
	case bad.has("schemaVersion"):
	case m["schemaVersion"] == nil:
		c.problem(at, ErrInvalid, "missing: want 2")
	case v != 2:
		c.problem(at, ErrInvalid, "%d: want 2", v)
	}
}

// index checks an image index's content and walks its entries.
func (c *checker) index(ctx context.Context, name string, b []byte, m map[string]any, depth int) {
	var idx ocispec.Index
	bad := c.decodeTyped(name, b, m, &idx)
	c.schemaVersion(name, m, idx.SchemaVersion, bad)
	if !c.manifestsArray(name, m, bad) {
		return
	}
	matched, withPlatform := 0, 0
	for i, d := range idx.Manifests {
		at := location{name, "manifests[" + strconv.Itoa(i) + "]"}
		if bad.under(at.path) {
			continue
		}
		if d.Platform != nil {
			withPlatform++
			if c.opts.Platform != nil && !image.MatchPlatform(*c.opts.Platform, *d.Platform) {
				c.descriptor(at, d)
				continue
			}
			matched++
		}
		r := c.walk(ctx, at, d, depth+1)
		c.entryPlatform(at, d, r)
	}
	if c.opts.Platform != nil && withPlatform > 0 && matched == 0 {
		c.problem(location{name, "manifests"}, ErrInvalid, "no entry for platform %s", image.PlatformString(*c.opts.Platform))
	}
	if idx.Subject != nil && !bad.under("subject") {
		c.descriptor(location{name, "subject"}, *idx.Subject)
	}
}

// manifestsArray reports a missing or null manifests field.
func (c *checker) manifestsArray(name string, m map[string]any, bad badPaths) bool {
	v, ok := m["manifests"]
	switch {
	case bad.has("manifests"):
		return false
	case !ok:
		c.problem(location{name, "manifests"}, ErrInvalid, "missing: want an array")
		return false
	case v == nil:
		c.problem(location{name, "manifests"}, ErrInvalid, "null: want an array ([] when empty)")
		return false
	}
	return true
}

// entryPlatform checks an index entry's platform: required for an image
// manifest, with os and architecture set, and equal to its config's.
func (c *checker) entryPlatform(at location, d ocispec.Descriptor, r nodeResult) {
	k := r.kind
	if !r.read {
		k = kindOfType(d.MediaType)
	}
	p := d.Platform
	switch {
	case p == nil:
		if k == kindManifest {
			c.problem(at.field("platform"), ErrInvalid, "missing: an index entry for an image manifest names its platform")
		}
		return
	case p.OS == "" || p.Architecture == "":
		c.problem(at.field("platform"), ErrInvalid, "os and architecture must be set, have %q", image.PlatformString(*p))
		return
	}
	if cp := r.platform; cp != nil && (!image.MatchPlatform(*p, *cp) || !image.MatchPlatform(*cp, *p)) {
		c.problem(at.field("platform"), ErrInvalid, "%s, but the image's config says %s", image.PlatformString(*p), image.PlatformString(*cp))
	}
}

// manifest checks an image manifest's content, its config and its layers.
// It returns the config's platform when the config states it validly.
func (c *checker) manifest(ctx context.Context, name string, b []byte, m map[string]any) *ocispec.Platform {
	var man ocispec.Manifest
	bad := c.decodeTyped(name, b, m, &man)
	c.schemaVersion(name, m, man.SchemaVersion, bad)
	rec := imageRecord{}
	var cfg *configResult
	imageConfig := false
	switch {
	case bad.under("config"):
	case m["config"] == nil:
		c.problem(location{name, "config"}, ErrInvalid, "missing")
	default:
		at := location{name, "config"}
		if !c.descriptor(at, man.Config) {
			break
		}
		rec.config = man.Config.Digest
		switch man.Config.MediaType {
		case ocispec.MediaTypeImageConfig, image.DockerConfig:
			imageConfig = true
			cfg = c.config(ctx, at, man.Config)
		default:
			c.stream(ctx, at, man.Config)
		}
	}
	switch v, ok := m["layers"]; {
	case bad.has("layers"):
		return cfg.validPlatform()
	case !ok:
		c.problem(location{name, "layers"}, ErrInvalid, "missing: want an array")
		return cfg.validPlatform()
	case v == nil:
		c.problem(location{name, "layers"}, ErrInvalid, "null: want an array ([] when empty)")
		return cfg.validPlatform()
	}
	diffIDs := make([]digest.Digest, len(man.Layers))
	for i, l := range man.Layers {
		if c.stopped(ctx) {
			return nil
		}
		at := location{name, "layers[" + strconv.Itoa(i) + "]"}
		rec.layers = append(rec.layers, l.Digest)
		if bad.under(at.path) || !c.descriptor(at, l) {
			continue
		}
		want, known := layerCompression(l.MediaType)
		if imageConfig && !known {
			c.problem(at.field("mediaType"), ErrInvalid, "%s is not a layer media type", l.MediaType)
			c.stream(ctx, at, l)
			continue
		}
		if !known {
			c.stream(ctx, at, l)
			continue
		}
		alg := digest.SHA256
		if cfg != nil && i < len(cfg.diffIDs) && cfg.diffIDs[i].Validate() == nil {
			alg = cfg.diffIDs[i].Algorithm()
		}
		r := c.layer(ctx, at, l, alg)
		if r.read && r.alg != want {
			c.problem(at.field("mediaType"), ErrMediaType, "%s, but the blob is %s", l.MediaType, describe(r.alg))
		}
		diffIDs[i] = r.diffID
	}
	c.images = append(c.images, rec)
	if cfg == nil || !cfg.diffIDsOK {
		return cfg.validPlatform()
	}
	at := location{cfg.name, "rootfs.diff_ids"}
	if len(cfg.diffIDs) != len(man.Layers) {
		c.problem(at, ErrInvalid, "%d diff_ids for the %d layers of manifest %s", len(cfg.diffIDs), len(man.Layers), name)
	}
	for i := range min(len(cfg.diffIDs), len(man.Layers)) {
		want, got := cfg.diffIDs[i], diffIDs[i]
		if got != "" && want.Validate() == nil && want != got {
			c.problem(location{cfg.name, "rootfs.diff_ids[" + strconv.Itoa(i) + "]"}, ErrDiffID,
				"%s, but layers[%d] of manifest %s (%s) decompresses to %s", want, i, name, man.Layers[i].Digest, got)
		}
	}
	if man.Subject != nil && !bad.under("subject") {
		c.descriptor(location{name, "subject"}, *man.Subject)
	}
	return cfg.validPlatform()
}

// configResult is what an image config says that its manifest needs.
type configResult struct {
	name      string
	diffIDs   []digest.Digest
	diffIDsOK bool // rootfs.diff_ids is an array of strings
	platform  *ocispec.Platform
}

func (r *configResult) validPlatform() *ocispec.Platform {
	if r == nil {
		return nil
	}
	return r.platform
}

// config checks an image config, once per blob.
func (c *checker) config(ctx context.Context, at location, desc ocispec.Descriptor) *configResult {
	key := blobKey{desc.Digest, desc.Size}
	if r, ok := c.cfgs[key]; ok {
		return r
	}
	c.cfgs[key] = nil
	b, ok := c.readJSON(ctx, at, desc)
	if !ok {
		return nil
	}
	r := &configResult{name: desc.Digest.String()}
	m, ok := c.decodeObject(r.name, b)
	if !ok {
		return nil
	}
	c.cfgs[key] = r
	var cf image.ConfigFile
	bad := c.decodeTyped(r.name, b, m, &cf)
	here := func(path string) location { return location{r.name, path} }
	platformOK := true
	for _, f := range []struct {
		name string
		v    string
	}{{"architecture", cf.Architecture}, {"os", cf.OS}} {
		switch {
		case bad.has(f.name):
			platformOK = false
		case m[f.name] == nil:
			c.problem(here(f.name), ErrInvalid, "missing")
			platformOK = false
		case f.v == "":
			c.problem(here(f.name), ErrInvalid, "empty")
			platformOK = false
		}
	}
	if platformOK && !bad.has("variant") {
		p := cf.Platform
		r.platform = &p
	}
	switch rootfs, ok := m["rootfs"].(map[string]any); {
	case bad.has("rootfs"):
	case !ok:
		c.problem(here("rootfs"), ErrInvalid, "missing")
	default:
		if !bad.has("rootfs.type") && cf.RootFS.Type != "layers" {
			c.problem(here("rootfs.type"), ErrInvalid, "%q: want \"layers\"", cf.RootFS.Type)
		}
		switch {
		case bad.under("rootfs.diff_ids"):
		case rootfs["diff_ids"] == nil:
			c.problem(here("rootfs.diff_ids"), ErrInvalid, "missing: want an array ([] when there are no layers)")
		default:
			r.diffIDs, r.diffIDsOK = cf.RootFS.DiffIDs, true
			for i, d := range r.diffIDs {
				if err := d.Validate(); err != nil {
					c.problem(here("rootfs.diff_ids["+strconv.Itoa(i)+"]"), ErrInvalid, "%q: %v", d, err)
				}
			}
		}
	}
	if len(cf.History) > 0 && !bad.under("history") && r.diffIDsOK {
		n := 0
		for _, h := range cf.History {
			if !h.EmptyLayer {
				n++
			}
		}
		if n != len(r.diffIDs) {
			c.problem(here("history"), ErrInvalid, "%d of its entries add a layer (empty_layer unset), but there are %d diff_ids", n, len(r.diffIDs))
		}
	}
	return r
}

// stream reads a blob whose content is not checked (a non-image config, a
// foreign layer type) and verifies its size and digest.
func (c *checker) stream(ctx context.Context, at location, desc ocispec.Descriptor) {
	key := layerKey{desc.Digest, desc.Size, ""}
	if _, ok := c.layers[key]; ok {
		return
	}
	c.layers[key] = layerResult{}
	rc, err := c.f.Fetch(ctx, desc)
	if err != nil {
		if !(errors.Is(err, blob.ErrNotFound) && nonDistributable(desc.MediaType)) {
			c.fetchProblem(ctx, at, desc, err)
		}
		return
	}
	defer rc.Close()
	n, err := copyCtx(ctx, blob.VerifyReader(rc, desc))
	c.rep.Bytes += n
	if err != nil {
		c.fetchProblem(ctx, at, desc, err)
	}
}
