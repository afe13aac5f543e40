// Package diff explains why two images differ. It walks both Merkle trees
// from the top (index → manifest → config → layers → tar entries) and
// reports each cause once, where it is: a platform added to an index, a
// manifest annotation, a config field by its JSON path (config.Env[2],
// history[3].created_by), a layer whose content is the same but whose
// compression is not (with what is known of each side's compressor), and
// for layers whose content differs, the tar entries added, removed and
// changed, with the header fields that differ and both values.
//
// Digests that change only because something below them changed are not
// differences: they are the walk (Report.Images). Layers are streamed, and
// memory grows with the number of tar entries, never with their size.
package diff

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// Side is one image to compare: where its blobs are and the descriptor at
// the top of its graph (an index or a manifest).
type Side struct {
	// Name is how the report shows the side (e.g. the command-line argument).
	Name    string
	Fetcher blob.Fetcher
	Root    ocispec.Descriptor
}

// Options change what Explain does. The zero value compares every platform
// and tries to reproduce differently compressed layers of up to 512 MiB.
type Options struct {
	// Platform, when set, compares only that platform of an index (and
	// checks it against a single manifest's config).
	Platform *ocispec.Platform
	// RecompressLimit caps the uncompressed size of a layer that Explain
	// recompresses, at each of imagewriter's levels, to learn whether and
	// how imagewriter made it; 0 means 512 MiB, a negative value never.
	RecompressLimit int64
}

const defaultRecompressLimit = 512 << 20

// The objects a Difference is about.
const (
	ObjectIndex    = "index"
	ObjectManifest = "manifest"
	ObjectConfig   = "config"
	ObjectLayer    = "layer"
	ObjectEntry    = "entry"
)

// The kinds of change.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Difference is one cause of two images' digests differing.
type Difference struct {
	// Platform names the image of an index the difference is in
	// ("linux/amd64"); "" at the top or when both sides are manifests.
	Platform string `json:"platform,omitempty"`
	// Object is index, manifest, config, layer or entry (a tar entry).
	Object string `json:"object"`
	// LayerA and LayerB are the layer's positions on each side, for layer
	// and entry differences (one is nil for an added or removed layer).
	LayerA *int `json:"layerA,omitempty"`
	LayerB *int `json:"layerB,omitempty"`
	// Path is the JSON path inside the blob ("config.Env[2]", "created",
	// `annotations["org.opencontainers.image.version"]`) or, for entries,
	// the path inside the layer ("etc/hostname").
	Path string `json:"path,omitempty"`
	// Field is, for entries, the header field that differs (mode, uid,
	// gid, uname, gname, mtime, size, type, linkname, xattr.NAME, pax.KEY,
	// content, name); for layers: compression, order, tar format, tar
	// encoding; for blobs whose values are equal: encoding.
	Field string `json:"field,omitempty"`
	// Change is added, removed or changed.
	Change string `json:"change"`
	// A and B are each side's value, as text (JSON values as compact JSON).
	A string `json:"a,omitempty"`
	B string `json:"b,omitempty"`
	// Note says what else is known, such as each side's compressor.
	Note string `json:"note,omitempty"`
}

// Where renders the location, as the human report prints it.
func (d Difference) Where() string {
	var parts []string
	if d.Platform != "" {
		parts = append(parts, d.Platform)
	}
	switch d.Object {
	case ObjectLayer, ObjectEntry:
		parts = append(parts, layerName(d.LayerA, d.LayerB))
		if d.Path != "" {
			parts = append(parts, d.Path)
		}
	default:
		s := d.Object
		if d.Path != "" {
			s += " " + d.Path
		}
		parts = append(parts, s)
	}
	if d.Field != "" {
		parts = append(parts, d.Field)
	}
	return strings.Join(parts, ": ")
}

func layerName(a, b *int) string {
	switch {
	case a != nil && b != nil && *a != *b:
		return fmt.Sprintf("layers[%d] (b: layers[%d])", *a, *b)
	case a != nil:
		return fmt.Sprintf("layers[%d]", *a)
	case b != nil:
		return fmt.Sprintf("layers[%d]", *b)
	}
	return "layers"
}

// Report is what Explain found.
type Report struct {
	A Top `json:"a"`
	B Top `json:"b"`
	// Identical is true when the top digests are equal.
	Identical bool `json:"identical"`
	// Differences are the causes, in the order of the walk: index first,
	// then per image its manifest, config and layers.
	Differences []Difference `json:"differences"`
	// Images is the walk: each pair of images compared, with the digests
	// on each side, so that a reader can follow the tree down.
	Images []ImagePair `json:"images,omitempty"`
}

// Top is one side's name and root descriptor.
type Top struct {
	Name       string             `json:"name"`
	Descriptor ocispec.Descriptor `json:"descriptor"`
}

// ImagePair is one image of each side, compared.
type ImagePair struct {
	Platform string      `json:"platform,omitempty"`
	Manifest Pair        `json:"manifest"`
	Config   Pair        `json:"config"`
	Layers   []LayerPair `json:"layers"`
}

// Pair is the digest of one object on each side ("" when absent).
type Pair struct {
	A digest.Digest `json:"a,omitempty"`
	B digest.Digest `json:"b,omitempty"`
}

// LayerPair is a layer of each side, aligned by DiffID.
type LayerPair struct {
	A *LayerRef `json:"a,omitempty"`
	B *LayerRef `json:"b,omitempty"`
	// Verdict: identical, compression (same DiffID, different blob),
	// content, order, added or removed.
	Verdict string `json:"verdict"`
}

// LayerRef is a layer on one side.
type LayerRef struct {
	Index      int                `json:"index"`
	Descriptor ocispec.Descriptor `json:"descriptor"`
	DiffID     digest.Digest      `json:"diffID"`
}

// Explain compares a and b from the top. Its error is about the inputs
// (a blob missing, corrupt or not matching its descriptor, a layer whose
// content does not match its diff_id): when it is not nil the images could
// not be compared.
func Explain(ctx context.Context, a, b Side, opts Options) (Report, error) {
	r := Report{A: Top{a.Name, a.Root}, B: Top{b.Name, b.Root}, Differences: []Difference{}}
	if a.Root.Digest == b.Root.Digest && a.Root.Digest != "" {
		r.Identical = true
		return r, nil
	}
	w := &walker{ctx: ctx, a: a, b: b, opts: opts, r: &r}
	if opts.RecompressLimit == 0 {
		w.opts.RecompressLimit = defaultRecompressLimit
	}
	if err := w.top(); err != nil {
		return Report{}, err
	}
	return r, nil
}

type walker struct {
	ctx  context.Context
	a, b Side
	opts Options
	r    *Report
}

func (w *walker) add(d Difference) { w.r.Differences = append(w.r.Differences, d) }

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == image.DockerManifestList
}

// doc is a decoded JSON blob: generic for the field diff, plus its bytes.
type doc struct {
	desc  ocispec.Descriptor
	bytes []byte
	value any
}

func (w *walker) read(s Side, desc ocispec.Descriptor) (doc, error) {
	b, err := blob.ReadAll(w.ctx, s.Fetcher, desc, blob.MaxMetadataBytes)
	if err != nil {
		return doc{}, fmt.Errorf("%s: %w", s.Name, err)
	}
	v, err := decode(b)
	if err != nil {
		return doc{}, fmt.Errorf("%s: %s %s: %v", s.Name, desc.Digest, desc.MediaType, err)
	}
	return doc{desc: desc, bytes: b, value: v}, nil
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// entry is an image of a side's graph: a manifest descriptor and the key
// it is matched by.
type entry struct {
	key  string
	desc ocispec.Descriptor
}

func platformKey(p *ocispec.Platform, i int) string {
	if p == nil {
		return fmt.Sprintf("(no platform #%d)", i)
	}
	s := image.PlatformString(*p)
	if p.OSVersion != "" {
		s += " os.version=" + p.OSVersion
	}
	if len(p.OSFeatures) > 0 {
		s += " os.features=" + strings.Join(p.OSFeatures, ",")
	}
	return s
}

// indexEntries lists an index's images, filtered by the platform option.
func (w *walker) indexEntries(d doc) ([]entry, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(d.bytes, &idx); err != nil {
		return nil, fmt.Errorf("%s: %v", d.desc.Digest, err)
	}
	var out []entry
	for i, m := range idx.Manifests {
		if w.opts.Platform != nil && (m.Platform == nil || !image.MatchPlatform(*w.opts.Platform, *m.Platform)) {
			continue
		}
		out = append(out, entry{key: platformKey(m.Platform, i), desc: m})
	}
	return out, nil
}

func (w *walker) top() error {
	da, err := w.read(w.a, w.a.Root)
	if err != nil {
		return err
	}
	db, err := w.read(w.b, w.b.Root)
	if err != nil {
		return err
	}
	ai, bi := isIndex(w.a.Root.MediaType), isIndex(w.b.Root.MediaType)
	switch {
	case ai && bi:
		return w.indexes(da, db)
	case !ai && !bi:
		return w.image("", w.a.Root, w.b.Root, &da, &db)
	}
	// One index, one manifest: compare the manifest with the index's image
	// for its platform (or the chosen one, or the only one).
	// With a platform chosen, only that platform's images are compared:
	// how each side wraps them is not a difference.
	if w.opts.Platform == nil {
		w.add(Difference{Object: ObjectIndex, Change: Changed, A: kindOf(ai), B: kindOf(bi),
			Note: "one side is an index, the other a single image manifest: comparing the manifest with the index's image for its platform"})
	}
	idxDoc, man, manDoc := da, w.b.Root, &db
	if bi {
		idxDoc, man, manDoc = db, w.a.Root, &da
	}
	es, err := w.indexEntries(idxDoc)
	if err != nil {
		return err
	}
	want := w.opts.Platform
	if want == nil {
		if p, err := w.configPlatform(man, bi); err == nil {
			want = p
		}
	}
	var pick *entry
	for i := range es {
		if len(es) == 1 || (want != nil && es[i].desc.Platform != nil && image.MatchPlatform(*want, *es[i].desc.Platform)) {
			pick = &es[i]
			break
		}
	}
	if pick == nil {
		return fmt.Errorf("%s: no image in the index matches the other side's platform", idxDoc.desc.Digest)
	}
	// The index's other images are platforms only one side has.
	for _, e := range es {
		if e.key == pick.key {
			continue
		}
		d := Difference{Object: ObjectIndex, Path: "manifests[" + e.key + "]"}
		if bi {
			d.Change, d.B, d.Note = Added, e.desc.Digest.String(), "platform only in b"
		} else {
			d.Change, d.A, d.Note = Removed, e.desc.Digest.String(), "platform only in a"
		}
		w.add(d)
	}
	if bi {
		return w.image(pick.key, man, pick.desc, manDoc, nil)
	}
	return w.image(pick.key, pick.desc, man, nil, manDoc)
}

func kindOf(index bool) string {
	if index {
		return "index"
	}
	return "manifest"
}

// configPlatform reads the platform in the config of the image whose
// manifest is desc, on side a when manifestOnA, else on side b.
func (w *walker) configPlatform(desc ocispec.Descriptor, manifestOnA bool) (*ocispec.Platform, error) {
	s := w.b
	if manifestOnA {
		s = w.a
	}
	d, err := w.read(s, desc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(d.bytes, &m); err != nil {
		return nil, err
	}
	c, err := blob.ReadAll(w.ctx, s.Fetcher, m.Config, blob.MaxMetadataBytes)
	if err != nil {
		return nil, err
	}
	var p ocispec.Platform
	if err := json.Unmarshal(c, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (w *walker) indexes(da, db doc) error {
	ea, err := w.indexEntries(da)
	if err != nil {
		return err
	}
	eb, err := w.indexEntries(db)
	if err != nil {
		return err
	}
	// The index's own fields, without its manifest list.
	ma, mb := withoutKeys(da.value, "manifests"), withoutKeys(db.value, "manifests")
	n := len(w.r.Differences)
	jsonDiff("", ma, mb, func(path, change string, a, b any) {
		w.add(Difference{Object: ObjectIndex, Path: path, Change: change, A: render(a), B: render(b)})
	})
	byKey := func(es []entry) map[string]ocispec.Descriptor {
		m := map[string]ocispec.Descriptor{}
		seen := map[string]int{}
		for _, e := range es {
			// Several entries may share a platform (attestation
			// manifests are all unknown/unknown): number the repeats.
			k := e.key
			if n := seen[e.key]; n > 0 {
				k = fmt.Sprintf("%s #%d", e.key, n+1)
			}
			seen[e.key]++
			m[k] = e.desc
		}
		return m
	}
	am, bm := byKey(ea), byKey(eb)
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	type both struct {
		key  string
		a, b ocispec.Descriptor
	}
	var pairs []both
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		a, inA := am[k]
		b, inB := bm[k]
		path := "manifests[" + k + "]"
		switch {
		case !inB:
			w.add(Difference{Object: ObjectIndex, Path: path, Change: Removed, A: a.Digest.String(), Note: "platform only in a"})
		case !inA:
			w.add(Difference{Object: ObjectIndex, Path: path, Change: Added, B: b.Digest.String(), Note: "platform only in b"})
		default:
			// The descriptor's own fields (annotations, media type);
			// digest and size follow from the manifest.
			jsonDiff(path, descFields(a), descFields(b), func(p, change string, x, y any) {
				w.add(Difference{Object: ObjectIndex, Path: p, Change: change, A: render(x), B: render(y)})
			})
			if a.Digest != b.Digest {
				pairs = append(pairs, both{k, a, b})
			}
		}
	}
	if len(w.r.Differences) == n && len(pairs) == 0 && da.desc.Digest != db.desc.Digest && w.opts.Platform == nil {
		w.encoding(ObjectIndex, "", da, db)
	}
	for _, p := range pairs {
		if err := w.image(p.key, p.a, p.b, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// encoding reports two blobs with equal JSON values and different bytes.
func (w *walker) encoding(object, platform string, a, b doc) {
	w.add(Difference{Platform: platform, Object: object, Field: "encoding", Change: Changed,
		A: fmt.Sprintf("%d bytes", len(a.bytes)), B: fmt.Sprintf("%d bytes", len(b.bytes)),
		Note: "the same JSON values encoded differently (key order, whitespace, escaping or number form)"})
}

// descFields is a descriptor as JSON, without digest and size.
func descFields(d ocispec.Descriptor) any {
	b, _ := json.Marshal(d)
	v, _ := decode(b)
	return withoutKeys(v, "digest", "size")
}

func withoutKeys(v any, keys ...string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		if !slices.Contains(keys, k) {
			out[k] = x
		}
	}
	return out
}

// image compares one image of each side, from its manifest down. ma and
// mb are the manifests when already read.
func (w *walker) image(platform string, da, db ocispec.Descriptor, ma, mb *doc) error {
	if ma == nil {
		d, err := w.read(w.a, da)
		if err != nil {
			return err
		}
		ma = &d
	}
	if mb == nil {
		d, err := w.read(w.b, db)
		if err != nil {
			return err
		}
		mb = &d
	}
	var man [2]ocispec.Manifest
	for i, d := range []*doc{ma, mb} {
		if err := json.Unmarshal(d.bytes, &man[i]); err != nil {
			return fmt.Errorf("%s: %v", d.desc.Digest, err)
		}
		if !isManifest(d.desc.MediaType) {
			return fmt.Errorf("%s: media type %q is not an image manifest", d.desc.Digest, d.desc.MediaType)
		}
	}
	pair := ImagePair{Platform: platform, Manifest: Pair{da.Digest, db.Digest}, Config: Pair{man[0].Config.Digest, man[1].Config.Digest}}
	if !isImageConfig(man[0].Config.MediaType) || !isImageConfig(man[1].Config.MediaType) {
		// An artifact (an attestation, a signature): its layers are not
		// filesystems. Compare it by digest only.
		w.add(Difference{Platform: platform, Object: ObjectManifest, Change: Changed, A: da.Digest.String(), B: db.Digest.String(),
			Note: fmt.Sprintf("not an image (config media types %q, %q): compared by digest only", man[0].Config.MediaType, man[1].Config.MediaType)})
		w.r.Images = append(w.r.Images, pair)
		return nil
	}
	n := len(w.r.Differences)
	jsonDiff("", withoutKeys(ma.value, "config", "layers"), withoutKeys(mb.value, "config", "layers"), func(path, change string, a, b any) {
		w.add(Difference{Platform: platform, Object: ObjectManifest, Path: path, Change: change, A: render(a), B: render(b)})
	})
	jsonDiff("config", descFields(man[0].Config), descFields(man[1].Config), func(path, change string, a, b any) {
		w.add(Difference{Platform: platform, Object: ObjectManifest, Path: path, Change: change, A: render(a), B: render(b)})
	})
	var cfg [2]doc
	var diffIDs [2][]digest.Digest
	for i, s := range []Side{w.a, w.b} {
		d, err := w.read(s, man[i].Config)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		cfg[i] = d
		var cf image.ConfigFile
		if err := json.Unmarshal(d.bytes, &cf); err != nil {
			return fmt.Errorf("%s: config %s: %v", s.Name, d.desc.Digest, err)
		}
		if len(cf.RootFS.DiffIDs) != len(man[i].Layers) {
			return fmt.Errorf("%s: config %s: %d rootfs.diff_ids for %d layers", s.Name, d.desc.Digest, len(cf.RootFS.DiffIDs), len(man[i].Layers))
		}
		diffIDs[i] = cf.RootFS.DiffIDs
	}
	if cfg[0].desc.Digest != cfg[1].desc.Digest {
		// diff_ids are explained with the layers they describe.
		ca := withoutPath(cfg[0].value, "rootfs", "diff_ids")
		cb := withoutPath(cfg[1].value, "rootfs", "diff_ids")
		before := len(w.r.Differences)
		jsonDiff("", ca, cb, func(path, change string, a, b any) {
			w.add(Difference{Platform: platform, Object: ObjectConfig, Path: path, Change: change, A: render(a), B: render(b)})
		})
		if len(w.r.Differences) == before && slices.Equal(diffIDs[0], diffIDs[1]) {
			w.encoding(ObjectConfig, platform, cfg[0], cfg[1])
		}
	}
	var la, lb []LayerRef
	for i, d := range man[0].Layers {
		la = append(la, LayerRef{Index: i, Descriptor: d, DiffID: diffIDs[0][i]})
	}
	for i, d := range man[1].Layers {
		lb = append(lb, LayerRef{Index: i, Descriptor: d, DiffID: diffIDs[1][i]})
	}
	layers, err := w.layers(platform, la, lb)
	if err != nil {
		return err
	}
	pair.Layers = layers
	if len(w.r.Differences) == n && da.Digest != db.Digest {
		w.encoding(ObjectManifest, platform, *ma, *mb)
	}
	w.r.Images = append(w.r.Images, pair)
	return nil
}

func isImageConfig(mt string) bool {
	return mt == ocispec.MediaTypeImageConfig || mt == image.DockerConfig
}

func isManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == image.DockerManifest
}

// withoutPath removes one nested key (e.g. rootfs.diff_ids).
func withoutPath(v any, outer, inner string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		if k == outer {
			x = withoutKeys(x, inner)
		}
		out[k] = x
	}
	return out
}
