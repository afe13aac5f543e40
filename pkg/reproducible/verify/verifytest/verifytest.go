// Package verifytest builds a good image, in every form imagewriter writes,
// and broken copies of it: one per problem verify must find, each with the
// problem it must report. The tests of package verify and of `imagewriter
// verify` share it, so that the library and the CLI are held to one list.
package verifytest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/verify"
)

// Fixture is a good image in every form.
type Fixture struct {
	// Index is a layout directory holding a two-platform index (linux/amd64
	// and linux/arm64) tagged "v1". Each image has two layers, the first
	// gzip and the second zstd, and both images share them.
	Index string
	// Image, OCIArchive and DockerArchive hold the linux/amd64 image alone
	// (tag example.com/verify:v1), as a layout directory, an OCI archive
	// and a Docker archive.
	Image, OCIArchive, DockerArchive string
}

// Tag names the fixture's images.
const Tag = "example.com/verify:v1"

// Spec is the build spec of the fixture.
func Spec() *build.SpecFile {
	text := func(s string) *string { return &s }
	exe := layer.Mode(0o755)
	return &build.SpecFile{
		Platforms: []string{"linux/amd64", "linux/arm64"},
		Tag:       Tag,
		Config:    build.ConfigSpec{Entrypoint: []string{"/bin/hello"}, Env: []string{"PATH=/bin"}},
		Layers: []build.LayerSpec{
			{CreatedBy: "etc (gzip)", SpecFile: layer.SpecFile{
				Compression: &reproducible.Compression{Algorithm: reproducible.Gzip},
				Entries: []layer.EntrySpec{
					{Type: "dir", Path: "etc"},
					{Type: "file", Path: "etc/hello.conf", Content: text("greeting=hello\n")},
				},
			}},
			{CreatedBy: "bin (zstd)", SpecFile: layer.SpecFile{
				Compression: &reproducible.Compression{Algorithm: reproducible.Zstd},
				Entries: []layer.EntrySpec{
					{Type: "dir", Path: "bin"},
					{Type: "file", Path: "bin/hello", Content: text("#!/bin/sh\necho hello\n"), Attributes: layer.Attributes{Mode: &exe}},
					{Type: "dir", Path: "tmp"},
					{Type: "whiteout", Path: "tmp/old"},
					{Type: "dir", Path: "var"},
					{Type: "dir", Path: "var/cache"},
					{Type: "opaque", Path: "var/cache"},
				},
			}},
		},
	}
}

// New builds the fixture under t.TempDir().
func New(t testing.TB) *Fixture {
	t.Helper()
	dir := t.TempDir()
	f := &Fixture{
		Index:         filepath.Join(dir, "index"),
		Image:         filepath.Join(dir, "image"),
		OCIArchive:    filepath.Join(dir, "image.oci.tar"),
		DockerArchive: filepath.Join(dir, "image.docker.tar"),
	}
	write(t, nil, layout.FormatDir, f.Index)
	amd64 := []string{"linux/amd64"}
	write(t, amd64, layout.FormatDir, f.Image)
	write(t, amd64, layout.FormatArchive, f.OCIArchive)
	write(t, amd64, layout.FormatDockerArchive, f.DockerArchive)
	return f
}

func write(t testing.TB, platforms []string, format layout.Format, dst string) {
	t.Helper()
	ctx := context.Background()
	work := t.TempDir()
	built, err := build.Build(ctx, Spec(), build.Options{BaseDir: work, Platforms: platforms, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	built.Output.Format = format
	if err := build.Write(ctx, dst, built.Output, built.Blobs); err != nil {
		t.Fatal(err)
	}
}

// Layout is a copy of a layout directory, to break. Its methods edit blobs
// and keep the graph linked: a changed blob gets its new digest, and every
// descriptor that named it is rewritten, up to index.json, so that the only
// problem is the one a case makes.
type Layout struct {
	t   testing.TB
	Dir string
}

// Copy copies the layout directory src (bytes, never links) under
// t.TempDir().
func Copy(t testing.TB, src string) *Layout {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Layout{t: t, Dir: dst}
}

func (l *Layout) path(d digest.Digest) string {
	return filepath.Join(l.Dir, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// Read returns a blob's bytes.
func (l *Layout) Read(d digest.Digest) []byte {
	l.t.Helper()
	b, err := os.ReadFile(l.path(d))
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

// Write stores b as a blob, links nothing, and returns its digest.
func (l *Layout) Write(b []byte) digest.Digest {
	l.t.Helper()
	d := digest.FromBytes(b)
	if err := os.WriteFile(l.path(d), b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return d
}

// Remove deletes a blob.
func (l *Layout) Remove(d digest.Digest) {
	l.t.Helper()
	if err := os.Remove(l.path(d)); err != nil {
		l.t.Fatal(err)
	}
}

// FlipByte inverts one byte of a blob in place: the file no longer has the
// digest it is named by.
func (l *Layout) FlipByte(d digest.Digest, i int) {
	l.t.Helper()
	b := l.Read(d)
	b[i] ^= 0xff
	if err := os.WriteFile(l.path(d), b, 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// Replace stores b in place of the blob old: every descriptor naming old
// names b instead (digest and size), and each blob so changed is replaced
// the same way, up to index.json. old is removed. It returns b's digest.
func (l *Layout) Replace(old digest.Digest, b []byte) digest.Digest {
	l.t.Helper()
	nd := l.Write(b)
	if nd == old {
		return nd
	}
	l.relink(old, nd, int64(len(b)))
	l.Remove(old)
	return nd
}

func (l *Layout) relink(old, nd digest.Digest, size int64) {
	l.t.Helper()
	l.EditIndexJSON(func(m map[string]any) { relinkValue(m, old, nd, size) })
	dir := filepath.Join(l.Dir, ocispec.ImageBlobsDir, "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d == nd || d == old {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !bytes.HasPrefix(b, []byte("{")) {
			continue // removed by a deeper relink, or not JSON
		}
		m, ok := decode(b)
		if !ok || !relinkValue(m, old, nd, size) {
			continue
		}
		l.Replace(d, encode(l.t, m))
	}
}

// relinkValue points every descriptor in v that names old at nd.
func relinkValue(v any, old, nd digest.Digest, size int64) bool {
	changed := false
	switch v := v.(type) {
	case map[string]any:
		if v["digest"] == old.String() {
			v["digest"] = nd.String()
			v["size"] = json.Number(strconv.FormatInt(size, 10))
			changed = true
		}
		for _, e := range v {
			changed = relinkValue(e, old, nd, size) || changed
		}
	case []any:
		for _, e := range v {
			changed = relinkValue(e, old, nd, size) || changed
		}
	}
	return changed
}

func decode(b []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	return m, dec.Decode(&m) == nil && m != nil
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// EditJSON decodes a JSON blob, lets edit change it, and replaces the
// blob with the result (see Replace). It returns the new digest.
func (l *Layout) EditJSON(d digest.Digest, edit func(m map[string]any)) digest.Digest {
	l.t.Helper()
	m, ok := decode(l.Read(d))
	if !ok {
		l.t.Fatalf("%s is not a JSON object", d)
	}
	edit(m)
	return l.Replace(d, encode(l.t, m))
}

// EditIndexJSON edits index.json in place.
func (l *Layout) EditIndexJSON(edit func(m map[string]any)) {
	l.t.Helper()
	p := filepath.Join(l.Dir, ocispec.ImageIndexFile)
	b, err := os.ReadFile(p)
	if err != nil {
		l.t.Fatal(err)
	}
	m, ok := decode(b)
	if !ok {
		l.t.Fatal("index.json is not a JSON object")
	}
	edit(m)
	if err := os.WriteFile(p, encode(l.t, m), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// Graph is the digests of a layout made from the fixture.
type Graph struct {
	// Index is the image index index.json names ("" for a single image).
	Index digest.Digest
	// Manifests and Configs by platform ("linux/amd64").
	Manifests map[string]digest.Digest
	Configs   map[string]digest.Digest
	// Layers of the linux/amd64 image, and their diff_ids.
	Layers  []digest.Digest
	DiffIDs []digest.Digest
	// Entries is where each platform's manifest is in the index.
	Entries map[string]int
}

// Graph reads the layout's current digests.
func (l *Layout) Graph() Graph {
	l.t.Helper()
	g := Graph{Manifests: map[string]digest.Digest{}, Configs: map[string]digest.Digest{}, Entries: map[string]int{}}
	var top ocispec.Index
	l.unmarshal(filepath.Join(l.Dir, ocispec.ImageIndexFile), &top)
	root := top.Manifests[0]
	manifests := []ocispec.Descriptor{root}
	if root.MediaType == ocispec.MediaTypeImageIndex {
		g.Index = root.Digest
		var idx ocispec.Index
		l.unmarshal(l.path(root.Digest), &idx)
		manifests = idx.Manifests
	}
	for i, d := range manifests {
		var m ocispec.Manifest
		l.unmarshal(l.path(d.Digest), &m)
		var cf image.ConfigFile
		l.unmarshal(l.path(m.Config.Digest), &cf)
		p := image.PlatformString(cf.Platform)
		g.Manifests[p], g.Configs[p], g.Entries[p] = d.Digest, m.Config.Digest, i
		if p == "linux/amd64" {
			for _, ld := range m.Layers {
				g.Layers = append(g.Layers, ld.Digest)
			}
			g.DiffIDs = cf.RootFS.DiffIDs
		}
	}
	return g
}

func (l *Layout) unmarshal(p string, v any) {
	l.t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		l.t.Fatalf("%s: %v", p, err)
	}
}

// ReplaceLayer replaces the layer old with a gzip-compressed tar: the
// diff_ids that named old's tar now name this one, and the descriptors
// that named old name the new blob. It returns the new layer's digest.
func (l *Layout) ReplaceLayer(old digest.Digest, tarBytes []byte) digest.Digest {
	l.t.Helper()
	var buf bytes.Buffer
	zw, err := reproducible.NewWriter(&buf, reproducible.Compression{Algorithm: reproducible.Gzip})
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := zw.Write(tarBytes); err != nil {
		l.t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		l.t.Fatal(err)
	}
	diffID := digest.FromBytes(tarBytes)
	g := l.Graph()
	for p, md := range g.Manifests {
		var m ocispec.Manifest
		l.unmarshal(l.path(md), &m)
		for i, ld := range m.Layers {
			if ld.Digest == old {
				l.EditJSON(g.Configs[p], func(c map[string]any) {
					at(c, "rootfs", "diff_ids").([]any)[i] = diffID.String()
				})
			}
		}
	}
	return l.Replace(old, buf.Bytes())
}

// at walks into decoded JSON by keys and indexes.
func at(v any, path ...any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// Tar builds an uncompressed tar of entries: a name ending in "/" is a
// directory, anything else an empty regular file. Names are written as
// given, hostile ones too.
func Tar(t testing.TB, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, Typeflag: tar.TypeReg, ModTime: reproducible.Epoch, Format: tar.FormatPAX}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Want is the one problem verify must report for a broken copy.
type Want struct {
	Blob string // a digest or a file of the layout
	Path string // "" for the blob as a whole
	Err  error  // the sentinel it matches
}

// Where is how verify prints the place.
func (w Want) Where() string { return verify.Problem{Blob: w.Blob, Path: w.Path}.Where() }

// Case is one way to break the fixture's index layout.
type Case struct {
	Name string
	// Break breaks a copy of Fixture.Index and returns what verify must
	// report: that problem and no other.
	Break func(l *Layout) Want
}

func set(keys ...any) func(value any) func(m map[string]any) {
	return func(value any) func(m map[string]any) {
		return func(m map[string]any) {
			parent := at(m, keys[:len(keys)-1]...)
			switch k := keys[len(keys)-1].(type) {
			case string:
				if value == nil {
					delete(parent.(map[string]any), k)
				} else {
					parent.(map[string]any)[k] = value
				}
			case int:
				parent.([]any)[k] = value
			}
		}
	}
}

// null is a JSON null for set (nil deletes the key).
var null = json.RawMessage("null")

const amd64 = "linux/amd64"

// Cases are the broken copies verify must reject: issue 3's list, and more.
func Cases() []Case {
	return []Case{
		{"layer digest wrong", func(l *Layout) Want {
			d := l.Graph().Layers[0]
			l.FlipByte(d, 20)
			return Want{Blob: d.String(), Err: blob.ErrDigestMismatch}
		}},
		{"layer size one byte off", func(l *Layout) Want {
			g := l.Graph()
			size, _ := at(decodeOK(l, g.Manifests[amd64]), "layers", 1, "size").(json.Number).Int64()
			m := l.EditJSON(g.Manifests[amd64], set("layers", 1, "size")(size+1))
			return Want{Blob: m.String(), Path: "layers[1].size", Err: blob.ErrSizeMismatch}
		}},
		{"zstd media type on a gzip layer", func(l *Layout) Want {
			m := l.EditJSON(l.Graph().Manifests[amd64], set("layers", 0, "mediaType")(ocispec.MediaTypeImageLayerZstd))
			return Want{Blob: m.String(), Path: "layers[0].mediaType", Err: verify.ErrMediaType}
		}},
		{"index entry typed as an index", func(l *Layout) Want {
			i := l.EditJSON(l.Graph().Index, set("manifests", 0, "mediaType")(ocispec.MediaTypeImageIndex))
			return Want{Blob: i.String(), Path: "manifests[0].mediaType", Err: verify.ErrMediaType}
		}},
		{"manifest with a Docker media type", func(l *Layout) Want {
			l.EditJSON(l.Graph().Manifests[amd64], set("mediaType")(image.DockerManifest))
			g := l.Graph()
			e := g.Entries[amd64]
			i := l.EditJSON(g.Index, set("manifests", e, "mediaType")(image.DockerManifest))
			return Want{Blob: i.String(), Path: "manifests[" + strconv.Itoa(e) + "].mediaType", Err: image.ErrMediaTypeMix}
		}},
		{"zeroed diff_id", func(l *Layout) Want {
			c := l.EditJSON(l.Graph().Configs[amd64], set("rootfs", "diff_ids", 0)("sha256:"+strings.Repeat("0", 64)))
			return Want{Blob: c.String(), Path: "rootfs.diff_ids[0]", Err: verify.ErrDiffID}
		}},
		{"missing blob", func(l *Layout) Want {
			d := l.Graph().Layers[1]
			l.Remove(d)
			return Want{Blob: d.String(), Err: blob.ErrNotFound}
		}},
		{"os is a number", func(l *Layout) Want {
			c := l.EditJSON(l.Graph().Configs[amd64], set("os")(42))
			return Want{Blob: c.String(), Path: "os", Err: verify.ErrInvalid}
		}},
		{"duplicate path in a layer", func(l *Layout) Want {
			d := l.ReplaceLayer(l.Graph().Layers[0], Tar(l.t, "etc/", "etc/hello.conf", "etc/hello.conf"))
			return Want{Blob: d.String(), Path: "etc/hello.conf", Err: layer.ErrDuplicatePath}
		}},
		{"bare whiteout prefix", func(l *Layout) Want {
			d := l.ReplaceLayer(l.Graph().Layers[0], Tar(l.t, "etc/", "etc/.wh."))
			return Want{Blob: d.String(), Path: "etc/.wh.", Err: layer.ErrUnsafePath}
		}},
		{"history does not pair with diff_ids", func(l *Layout) Want {
			c := l.EditJSON(l.Graph().Configs[amd64], func(m map[string]any) {
				m["history"] = m["history"].([]any)[:1]
			})
			return Want{Blob: c.String(), Path: "history", Err: verify.ErrInvalid}
		}},
		{"index manifests null", func(l *Layout) Want {
			i := l.EditJSON(l.Graph().Index, set("manifests")(null))
			return Want{Blob: i.String(), Path: "manifests", Err: verify.ErrInvalid}
		}},
		{"index.json manifests null", func(l *Layout) Want {
			l.EditIndexJSON(set("manifests")(null))
			return Want{Blob: "index.json", Path: "manifests", Err: verify.ErrInvalid}
		}},
		{"oci-layout version", func(l *Layout) Want {
			if err := os.WriteFile(filepath.Join(l.Dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"2.0.0"}`), 0o644); err != nil {
				l.t.Fatal(err)
			}
			return Want{Blob: "oci-layout", Path: "imageLayoutVersion", Err: verify.ErrInvalid}
		}},
		{"index entry without a platform", func(l *Layout) Want {
			i := l.EditJSON(l.Graph().Index, set("manifests", 1, "platform")(nil))
			return Want{Blob: i.String(), Path: "manifests[1].platform", Err: verify.ErrInvalid}
		}},
		{"index entry platform disagrees with the config", func(l *Layout) Want {
			l.EditJSON(l.Graph().Configs[amd64], set("architecture")("riscv64"))
			g := l.Graph()
			return Want{Blob: g.Index.String(), Path: "manifests[" + strconv.Itoa(g.Entries["linux/riscv64"]) + "].platform", Err: verify.ErrInvalid}
		}},
		{"fewer diff_ids than layers", func(l *Layout) Want {
			c := l.EditJSON(l.Graph().Configs[amd64], func(m map[string]any) {
				rootfs := m["rootfs"].(map[string]any)
				rootfs["diff_ids"] = rootfs["diff_ids"].([]any)[:1]
				m["history"] = m["history"].([]any)[:1]
			})
			return Want{Blob: c.String(), Path: "rootfs.diff_ids", Err: verify.ErrInvalid}
		}},
		{"config os missing", func(l *Layout) Want {
			c := l.EditJSON(l.Graph().Configs[amd64], set("os")(nil))
			return Want{Blob: c.String(), Path: "os", Err: verify.ErrInvalid}
		}},
		{"layer digest not a digest", func(l *Layout) Want {
			m := l.EditJSON(l.Graph().Manifests[amd64], set("layers", 0, "digest")("sha256:abc"))
			return Want{Blob: m.String(), Path: "layers[0].digest", Err: verify.ErrInvalid}
		}},
		{"layer entry climbs out", func(l *Layout) Want {
			d := l.ReplaceLayer(l.Graph().Layers[0], Tar(l.t, "etc/", "../evil"))
			return Want{Blob: d.String(), Path: "../evil", Err: layer.ErrUnsafePath}
		}},
		{"config is not JSON", func(l *Layout) Want {
			c := l.Replace(l.Graph().Configs[amd64], []byte("not json"))
			return Want{Blob: c.String(), Err: verify.ErrInvalid}
		}},
		{"duplicate key in a config", func(l *Layout) Want {
			g := l.Graph()
			b := bytes.Replace(l.Read(g.Configs[amd64]), []byte(`{`), []byte(`{"os":"linux",`), 1)
			c := l.Replace(g.Configs[amd64], b)
			return Want{Blob: c.String(), Path: "os", Err: verify.ErrInvalid}
		}},
		{"ref.name not a reference", func(l *Layout) Want {
			l.EditIndexJSON(set("manifests", 0, "annotations", ocispec.AnnotationRefName)("-v1"))
			return Want{Blob: "index.json", Path: `manifests[0].annotations["` + ocispec.AnnotationRefName + `"]`, Err: verify.ErrInvalid}
		}},
	}
}

func decodeOK(l *Layout, d digest.Digest) map[string]any {
	m, ok := decode(l.Read(d))
	if !ok {
		l.t.Fatalf("%s is not a JSON object", d)
	}
	return m
}

// RewriteArchive copies the tar src to dst through edit, which sees each
// member's name and bytes and returns the bytes to write (nil drops the
// member).
func RewriteArchive(t testing.TB, src, dst string, edit func(name string, b []byte) []byte) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(in), tar.NewWriter(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if b = edit(h.Name, b); b == nil {
				continue
			}
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
