package verify_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/verify"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/verify/verifytest"
)

func checkPath(t *testing.T, p string, opts verify.Options) *verify.Report {
	t.Helper()
	rep, err := verify.CheckPath(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func problems(rep *verify.Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString("\n\t" + p.Error())
	}
	return b.String()
}

func TestGood(t *testing.T) {
	f := verifytest.New(t)
	for _, tc := range []struct {
		name       string
		path       string
		opts       verify.Options
		indexes    int
		manifests  int
		layers     int
		roots      int
		wantDocker bool
	}{
		{name: "index layout", path: f.Index, indexes: 1, manifests: 2, layers: 2, roots: 1},
		{name: "index layout, fast", path: f.Index, opts: verify.Options{Fast: true}, indexes: 1, manifests: 2, layers: 2, roots: 1},
		{name: "index layout, one platform", path: f.Index, opts: verify.Options{Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}}, indexes: 1, manifests: 1, layers: 2, roots: 1},
		{name: "index layout, by ref", path: f.Index, opts: verify.Options{Ref: "v1"}, indexes: 1, manifests: 2, layers: 2, roots: 1},
		{name: "image layout", path: f.Image, manifests: 1, layers: 2, roots: 1},
		{name: "oci archive", path: f.OCIArchive, manifests: 1, layers: 2, roots: 1},
		{name: "docker archive", path: f.DockerArchive, manifests: 1, layers: 2, roots: 1},
		{name: "docker archive, by RepoTag", path: f.DockerArchive, opts: verify.Options{Ref: verifytest.Tag}, manifests: 1, layers: 2, roots: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := checkPath(t, tc.path, tc.opts)
			if !rep.OK() || rep.Err() != nil {
				t.Fatalf("problems in a good image:%s", problems(rep))
			}
			got := [4]int{rep.Indexes, rep.Manifests, rep.Layers, len(rep.Roots)}
			if want := [4]int{tc.indexes, tc.manifests, tc.layers, tc.roots}; got != want {
				t.Errorf("indexes, manifests, layers, roots = %v, want %v", got, want)
			}
			if rep.Bytes <= 0 {
				t.Errorf("Bytes = %d", rep.Bytes)
			}
		})
	}
}

// TestBroken checks each broken copy of the good layout: verify reports
// exactly the problem the case made, where the case made it.
func TestBroken(t *testing.T) {
	f := verifytest.New(t)
	for _, tc := range verifytest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			l := verifytest.Copy(t, f.Index)
			want := tc.Break(l)
			for _, fast := range []bool{false, true} {
				rep := checkPath(t, l.Dir, verify.Options{Fast: fast})
				if fast && len(rep.Problems) == 0 && layerContent(want) {
					continue // Fast does not read layers
				}
				if len(rep.Problems) != 1 {
					t.Fatalf("fast=%v: %d problems, want 1 at %s:%s", fast, len(rep.Problems), want.Where(), problems(rep))
				}
				p := rep.Problems[0]
				t.Logf("fast=%v: %v", fast, p)
				if diff := cmp.Diff(want.Where(), p.Where()); diff != "" {
					t.Errorf("fast=%v: where (-want +got):\n%s\n(problem: %v)", fast, diff, p)
				}
				if !errors.Is(p, want.Err) || !errors.Is(rep.Err(), want.Err) {
					t.Errorf("fast=%v: %v does not match %v", fast, p, want.Err)
				}
			}
		})
	}
}

// layerContent reports whether a problem needs a layer read in full.
func layerContent(w verifytest.Want) bool {
	return errors.Is(w.Err, blob.ErrDigestMismatch) || errors.Is(w.Err, blob.ErrSizeMismatch) ||
		errors.Is(w.Err, verify.ErrDiffID) || errors.Is(w.Err, layer.ErrDuplicatePath) || errors.Is(w.Err, layer.ErrUnsafePath)
}

// TestManyProblems checks that verify collects problems from every part of
// the graph instead of stopping at the first.
func TestManyProblems(t *testing.T) {
	f := verifytest.New(t)
	l := verifytest.Copy(t, f.Index)
	g := l.Graph()
	l.FlipByte(g.Layers[0], 20)
	c := l.EditJSON(g.Configs["linux/arm64"], func(m map[string]any) { m["architecture"] = false })
	l.Remove(g.Layers[1])
	rep := checkPath(t, l.Dir, verify.Options{})
	var got []string
	for _, p := range rep.Problems {
		got = append(got, p.Where())
	}
	want := []string{g.Layers[0].String(), g.Layers[1].String(), c.String() + " architecture"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s%s", diff, problems(rep))
	}
	if err := rep.Err(); !errors.Is(err, blob.ErrDigestMismatch) || !errors.Is(err, blob.ErrNotFound) || !errors.Is(err, verify.ErrInvalid) {
		t.Errorf("Err() = %v: want it to match every problem's sentinel", err)
	}
}

func TestArchives(t *testing.T) {
	f := verifytest.New(t)
	var layerPath string
	var manifestJSON []byte
	verifytest.RewriteArchive(t, f.DockerArchive, filepath.Join(t.TempDir(), "x.tar"), func(name string, b []byte) []byte {
		if name == layout.DockerManifestFile {
			manifestJSON = b
		} else if strings.HasPrefix(name, "blobs/") && layerPath == "" && bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			layerPath = name
		}
		return b
	})
	for _, tc := range []struct {
		name string
		src  string
		edit func(name string, b []byte) []byte
		want string // where
	}{
		{"member twice", f.OCIArchive, nil, "archive index.json"},
		{"no oci-layout", f.OCIArchive, func(name string, b []byte) []byte {
			if name == ocispec.ImageLayoutFile {
				return nil
			}
			return b
		}, "oci-layout"},
		{"manifest.json names another layer", f.DockerArchive, func(name string, b []byte) []byte {
			if name == layout.DockerManifestFile {
				return bytes.Replace(b, []byte(layerPath), []byte("blobs/sha256/"+strings.Repeat("1", 64)), 1)
			}
			return b
		}, "manifest.json [0].Layers[0]"},
		{"manifest.json config missing", f.DockerArchive, func(name string, b []byte) []byte {
			if name == layout.DockerManifestFile {
				return []byte(`[{"Config":"blobs/sha256/` + strings.Repeat("2", 64) + `","RepoTags":[],"Layers":[]}]`)
			}
			return b
		}, "manifest.json [0].Config"},
		{"manifest.json Layers not an array", f.DockerArchive, func(name string, b []byte) []byte {
			if name == layout.DockerManifestFile {
				return bytes.Replace(manifestJSON, []byte(`"Layers":[`), []byte(`"Layers":7,"x":[`), 1)
			}
			return b
		}, "manifest.json [0].Layers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "broken.tar")
			if tc.edit == nil {
				names, datas := readTar(t, tc.src)
				for i, n := range names {
					if n == ocispec.ImageIndexFile {
						names, datas = append(names, n), append(datas, datas[i])
						break
					}
				}
				writeTar(t, dst, names, datas)
			} else {
				verifytest.RewriteArchive(t, tc.src, dst, tc.edit)
			}
			rep := checkPath(t, dst, verify.Options{})
			if len(rep.Problems) != 1 || rep.Problems[0].Where() != tc.want {
				t.Fatalf("want one problem at %s, got:%s", tc.want, problems(rep))
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		b, err := os.ReadFile(f.OCIArchive)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "cut.tar")
		if err := os.WriteFile(p, b[:len(b)-1024], 0o644); err != nil { // without the end-of-archive blocks
			t.Fatal(err)
		}
		rep := checkPath(t, p, verify.Options{})
		if len(rep.Problems) != 1 || rep.Problems[0].Where() != "archive" || !errors.Is(rep.Problems[0], layer.ErrBadTar) {
			t.Fatalf("want one problem at archive, got:%s", problems(rep))
		}
	})
	t.Run("compressed", func(t *testing.T) {
		b, err := os.ReadFile(f.OCIArchive)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		p := filepath.Join(t.TempDir(), "image.tar.gz")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		rep := checkPath(t, p, verify.Options{})
		if len(rep.Problems) != 1 || rep.Problems[0].Where() != "archive" {
			t.Fatalf("want one problem at archive, got:%s", problems(rep))
		}
	})
}

func readTar(t *testing.T, p string) (names []string, datas [][]byte) {
	t.Helper()
	verifytest.RewriteArchive(t, p, filepath.Join(t.TempDir(), "copy.tar"), func(n string, d []byte) []byte {
		names, datas = append(names, n), append(datas, d)
		return d
	})
	return names, datas
}

func writeTar(t *testing.T, p string, names []string, datas [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(datas[i])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(datas[i])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFetcher(t *testing.T) {
	ctx := context.Background()
	m := blob.NewMemory()
	config := image.BlobOf(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	manifest, err := image.NewManifest(config, nil, image.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []image.Blob{config, manifest} {
		if err := m.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := verify.Check(ctx, m, manifest.Descriptor, verify.Options{})
	if err != nil || !rep.OK() {
		t.Fatalf("Check: %v%s", err, problems(rep))
	}
	if rep.Manifests != 1 || rep.Layers != 0 || rep.Bytes != config.Descriptor.Size+manifest.Descriptor.Size {
		t.Errorf("report %+v", rep)
	}

	// The same manifest named by a Docker-typed root: the graph is Docker's,
	// so its OCI config type is the mix.
	root := manifest.Descriptor
	root.MediaType = image.DockerManifest
	rep, _ = verify.Check(ctx, m, root, verify.Options{})
	wantWhere := []string{manifest.Descriptor.Digest.String() + " config.mediaType", "root mediaType"}
	var got []string
	for _, p := range rep.Problems {
		got = append(got, p.Where())
	}
	if diff := cmp.Diff(wantWhere, got); diff != "" {
		t.Errorf("Docker root (-want +got):\n%s%s", diff, problems(rep))
	}

	// A cancelled context ends the check with its error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := verify.Check(cctx, m, manifest.Descriptor, verify.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestCheckPathErrors(t *testing.T) {
	if _, err := verify.CheckPath(context.Background(), filepath.Join(t.TempDir(), "nothing"), verify.Options{}); err == nil {
		t.Error("a path that does not exist: no error")
	}
	rep := checkPath(t, t.TempDir(), verify.Options{})
	var got []string
	for _, p := range rep.Problems {
		got = append(got, p.Where())
	}
	if diff := cmp.Diff([]string{"oci-layout", "index.json"}, got); diff != "" {
		t.Errorf("an empty directory (-want +got):\n%s", diff)
	}
}

func TestProblemJSON(t *testing.T) {
	p := verify.Problem{Blob: digest.FromString("x").String(), Path: "layers[0].size", What: "bad", Err: verify.ErrInvalid}
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"where":"` + p.Blob + ` layers[0].size","blob":"` + p.Blob + `","path":"layers[0].size","what":"bad"}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}

// countFS counts the opens of each file.
type countFS struct {
	fs.FS
	opens map[string]int
}

func (c countFS) Open(name string) (fs.File, error) {
	c.opens[name]++
	return c.FS.Open(name)
}

// TestLayersReadOnce checks that a layer two manifests share is read once.
func TestLayersReadOnce(t *testing.T) {
	f := verifytest.New(t)
	fsys := countFS{os.DirFS(f.Index), map[string]int{}}
	rep, err := verify.CheckLayout(context.Background(), fsys, verify.Options{})
	if err != nil || !rep.OK() {
		t.Fatalf("CheckLayout: %v%s", err, problems(rep))
	}
	delete(fsys.opens, layout.DockerManifestFile) // looked for, absent
	if len(fsys.opens) != 2+1+2+2+2 {             // oci-layout, index.json, index, 2 manifests, 2 configs, 2 layers
		t.Errorf("opened %d files, want 9: %v", len(fsys.opens), fsys.opens)
	}
	for name, n := range fsys.opens {
		if n != 1 {
			t.Errorf("%s opened %d times", name, n)
		}
	}
}

// TestLegacyDockerArchive checks a `docker save` archive without
// index.json: config and layers under names of their own.
func TestLegacyDockerArchive(t *testing.T) {
	f := verifytest.New(t)
	names, datas := readTar(t, f.DockerArchive)
	var manifest []layout.DockerManifestEntry
	for i, n := range names {
		if n == layout.DockerManifestFile {
			if err := json.Unmarshal(datas[i], &manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	member := map[string][]byte{}
	for i, n := range names {
		member[n] = datas[i]
	}
	e := manifest[0]
	legacy := layout.DockerManifestEntry{Config: "config.json", RepoTags: e.RepoTags}
	outNames, outDatas := []string{"config.json"}, [][]byte{member[e.Config]}
	for i, l := range e.Layers {
		name := fmt.Sprintf("l%d/layer.tar", i)
		legacy.Layers = append(legacy.Layers, name)
		outNames, outDatas = append(outNames, name), append(outDatas, member[l])
	}
	mj, err := json.Marshal([]layout.DockerManifestEntry{legacy})
	if err != nil {
		t.Fatal(err)
	}
	outNames, outDatas = append(outNames, layout.DockerManifestFile), append(outDatas, mj)
	p := filepath.Join(t.TempDir(), "legacy.tar")
	writeTar(t, p, outNames, outDatas)

	rep := checkPath(t, p, verify.Options{})
	if !rep.OK() || rep.Manifests != 1 || rep.Layers != 2 {
		t.Fatalf("report %+v:%s", rep, problems(rep))
	}
	rep = checkPath(t, p, verify.Options{Ref: "example.com/other:v1"})
	if len(rep.Problems) != 1 || rep.Problems[0].Where() != "manifest.json" {
		t.Errorf("unknown RepoTag:%s", problems(rep))
	}

	// docker save before 25 writes a repeated layer as a symlink to the
	// first copy.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, n := range outNames {
		h := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(outDatas[i])), Typeflag: tar.TypeReg}
		if n == "l1/layer.tar" {
			tw.WriteHeader(&tar.Header{Name: "l1/", Mode: 0o755, Typeflag: tar.TypeDir})
			h.Name = "blobs/l1"
		}
		tw.WriteHeader(h)
		tw.Write(outDatas[i])
	}
	tw.WriteHeader(&tar.Header{Name: "l1/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../blobs/l1"})
	tw.Close()
	sp := filepath.Join(t.TempDir(), "symlinked.tar")
	if err := os.WriteFile(sp, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := checkPath(t, sp, verify.Options{}); !rep.OK() || rep.Layers != 2 {
		t.Errorf("layer.tar as a symlink: %+v%s", rep, problems(rep))
	}

	// Its first layer's bytes changed: the diff_id no longer holds.
	outDatas[1] = verifytest.Tar(t, "etc/")
	writeTar(t, p, outNames, outDatas)
	rep = checkPath(t, p, verify.Options{})
	if len(rep.Problems) != 1 || !errors.Is(rep.Problems[0], verify.ErrDiffID) || rep.Problems[0].Path != "rootfs.diff_ids[0]" {
		t.Errorf("changed layer:%s", problems(rep))
	}
}

// TestRefByRepoTag selects a Docker archive's image by a RepoTag that
// index.json does not carry: through manifest.json's config.
func TestRefByRepoTag(t *testing.T) {
	f := verifytest.New(t)
	p := filepath.Join(t.TempDir(), "docker.tar")
	verifytest.RewriteArchive(t, f.DockerArchive, p, func(name string, b []byte) []byte {
		if name != ocispec.ImageIndexFile {
			return b
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		for i := range idx.Manifests {
			idx.Manifests[i].Annotations = nil
		}
		out, err := json.Marshal(idx)
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
	if rep := checkPath(t, p, verify.Options{Ref: verifytest.Tag}); !rep.OK() || len(rep.Roots) != 1 || rep.Manifests != 1 {
		t.Errorf("by RepoTag: %+v%s", rep, problems(rep))
	}
	rep := checkPath(t, p, verify.Options{Ref: "example.com/other:v1"})
	if len(rep.Problems) != 1 || rep.Problems[0].Where() != "index.json manifests" || len(rep.Roots) != 0 {
		t.Errorf("unknown ref: %+v%s", rep, problems(rep))
	}
}
