package layout_test

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt with the current output")

// checkGolden compares got with testdata/golden/name, which only
// `go test -update` rewrites.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s moved (-want +got):\n%s\nA moved golden digest is a breaking change; if it is intended, run go test -update.", path, diff)
	}
}

// randomBytes returns n bytes that depend only on seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// layerFile is a layer blob on disk.
type layerFile struct {
	desc ocispec.Descriptor
	path string
	data []byte
}

// fixture is an image whose layer blobs are files in dir. Its content
// depends only on the seed, never on dir.
type fixture struct {
	img    image.Image
	layers []layerFile
}

func newFixture(t testing.TB, dir string, seed uint64, sizes ...int) fixture {
	t.Helper()
	var fx fixture
	var hist []image.LayerHistory
	for i, n := range sizes {
		data := randomBytes(seed+uint64(i), n)
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(data), Size: int64(n)}
		p := filepath.Join(dir, desc.Digest.Encoded()+".blob")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		fx.layers = append(fx.layers, layerFile{desc: desc, path: p, data: data})
		hist = append(hist, image.LayerHistory{DiffID: digest.FromBytes(append([]byte("diff"), data...)), CreatedBy: "layer"})
	}
	cf, config, err := image.NewConfig(image.ConfigOptions{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: hist})
	if err != nil {
		t.Fatal(err)
	}
	var descs []ocispec.Descriptor
	for _, l := range fx.layers {
		descs = append(descs, l.desc)
	}
	man, err := image.NewManifest(config, descs, image.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if descs == nil {
		descs = []ocispec.Descriptor{}
	}
	// As Resolve gives it back: SourceManifest is the manifest as read.
	fx.img = image.Image{Manifest: man, Config: config, ConfigFile: cf, Layers: descs, Platform: cf.Platform, SourceManifest: man.Descriptor}
	return fx
}

// layout returns a layout of the image tagged ref, its layers added as
// trusted files.
func (fx fixture) layout(ref string) *layout.Layout {
	l := layout.New()
	l.AddImage(fx.img)
	for _, lf := range fx.layers {
		l.AddFile(lf.desc, lf.path)
	}
	l.Tag(fx.img.Manifest.Descriptor, ref)
	return l
}

// blobs maps every blob of the image to its bytes.
func (fx fixture) blobs() map[digest.Digest][]byte {
	m := map[digest.Digest][]byte{
		fx.img.Manifest.Descriptor.Digest: fx.img.Manifest.Data,
		fx.img.Config.Descriptor.Digest:   fx.img.Config.Data,
	}
	for _, l := range fx.layers {
		m[l.desc.Digest] = l.data
	}
	return m
}

// treeEntry is what a test checks of a file in a written tree.
type treeEntry struct {
	Mode fs.FileMode
	Data string // for regular files: the sha256 of the content
}

// tree lists every file and directory under root, relative to it.
func tree(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := treeEntry{Mode: fi.Mode()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Data = digest.FromBytes(b).String()
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantTree is the tree WriteDir should produce for blobs and index.json.
func wantTree(blobs map[digest.Digest][]byte, indexJSON string) map[string]treeEntry {
	dir := fs.ModeDir | 0o755
	out := map[string]treeEntry{
		"blobs":        {Mode: dir},
		"blobs/sha256": {Mode: dir},
		"oci-layout":   {Mode: 0o644, Data: digest.FromString(`{"imageLayoutVersion":"1.0.0"}`).String()},
		"index.json":   {Mode: 0o644, Data: digest.FromString(indexJSON).String()},
	}
	for d := range blobs {
		out["blobs/sha256/"+d.Encoded()] = treeEntry{Mode: 0o644, Data: d.String()}
	}
	return out
}

// names lists a directory's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// member is one entry of a tar built by a test.
type member struct {
	hdr  tar.Header
	data []byte
}

func regular(name string, data []byte) member {
	return member{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: time.Unix(0, 0)}, data: data}
}

func directory(name string) member {
	return member{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: time.Unix(0, 0)}}
}

// tarBytes writes members as a tar, in the order given.
func tarBytes(t testing.TB, ms ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := m.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(m.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawFetcher serves bytes without verifying them: a store the reader must
// not trust.
type rawFetcher map[digest.Digest][]byte

func (f rawFetcher) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := f[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", d.Digest, blob.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
