package layout_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// resolveRef opens p, finds ref and resolves it.
func resolveRef(t *testing.T, p, ref string) (*layout.Source, image.Image) {
	t.Helper()
	src, err := layout.Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	root, err := src.FindRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Resolve(context.Background(), src, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src, img
}

func fetchAll(t *testing.T, f blob.Fetcher, d ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := f.Fetch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", d.Digest, err)
	}
	return b
}

// TestOpenWritten: every form the writers write opens as the same image,
// and every blob reads back verified.
func TestOpenWritten(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, t.TempDir(), 20, 700, 900)
	dir := t.TempDir()
	paths := map[layout.Format]string{
		layout.FormatDir:           filepath.Join(dir, "layout"),
		layout.FormatArchive:       filepath.Join(dir, "oci.tar"),
		layout.FormatDockerArchive: filepath.Join(dir, "docker.tar"),
	}
	if err := layout.WriteDir(ctx, paths[layout.FormatDir], fx.layout("v1")); err != nil {
		t.Fatal(err)
	}
	if err := layout.WriteArchive(ctx, paths[layout.FormatArchive], fx.layout("v1")); err != nil {
		t.Fatal(err)
	}
	if err := layout.WriteDockerArchive(ctx, paths[layout.FormatDockerArchive], fx.layout("v1"), fx.img, []string{"example.com/app:v1"}); err != nil {
		t.Fatal(err)
	}
	for format, p := range paths {
		t.Run(string(format), func(t *testing.T) {
			for _, ref := range []string{"", "v1"} {
				src, img := resolveRef(t, p, ref)
				if src.Format != format {
					t.Errorf("Format = %q, want %q", src.Format, format)
				}
				if diff := cmp.Diff(fx.img, img); diff != "" {
					t.Errorf("image (-want +got):\n%s", diff)
				}
				for d, want := range fx.blobs() {
					if got := fetchAll(t, src, ocispec.Descriptor{Digest: d, Size: int64(len(want))}); !bytes.Equal(got, want) {
						t.Errorf("blob %s differs", d)
					}
				}
				if _, err := src.Fetch(ctx, ocispec.Descriptor{Digest: digest.FromString("absent"), Size: 1}); !errors.Is(err, blob.ErrNotFound) {
					t.Errorf("Fetch of an absent blob: %v", err)
				}
			}
		})
	}
}

// legacyArchive builds what `docker save` wrote before Docker 25: no OCI
// layout, manifest.json naming <id>.json and <layer id>/layer.tar, plus the
// files that format carries beside them (VERSION, json, repositories).
func legacyArchive(t *testing.T, compress bool) (archive []byte, config []byte, layerBlob []byte, diffID digest.Digest) {
	t.Helper()
	layerTar := tarBytes(t, directory("etc/"), regular("etc/hello.txt", []byte("hello\n")))
	diffID = digest.FromBytes(layerTar)
	layerBlob = layerTar
	if compress {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(layerTar)
		zw.Close()
		layerBlob = buf.Bytes()
	}
	config = []byte(fmt.Sprintf(`{"architecture":"amd64","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"created":"2020-01-01T00:00:00Z","history":[{"created":"2020-01-01T00:00:00Z","created_by":"ADD hello.txt /etc/"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}`, diffID))
	id := digest.FromBytes(config).Encoded()
	layerID := digest.FromString("v1 layer id").Encoded()
	manifest := fmt.Sprintf(`[{"Config":"%s.json","RepoTags":["legacy:v1","legacy:latest"],"Layers":["%s/layer.tar"]}]`, id, layerID)
	archive = tarBytes(t,
		directory(layerID+"/"),
		regular(layerID+"/VERSION", []byte("1.0")),
		regular(layerID+"/json", []byte(`{"id":"`+layerID+`"}`)),
		regular(layerID+"/layer.tar", layerBlob),
		regular(id+".json", config),
		regular("manifest.json", []byte(manifest)),
		regular("repositories", []byte(`{"legacy":{"v1":"`+layerID+`"}}`)),
	)
	return archive, config, layerBlob, diffID
}

// TestOpenLegacyDockerArchive: a legacy archive gets a synthesized OCI
// manifest over the same config bytes and layer blobs.
func TestOpenLegacyDockerArchive(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", compressed), func(t *testing.T) {
			archive, config, layerBlob, diffID := legacyArchive(t, compressed)
			p := writeFile(t, filepath.Join(t.TempDir(), "legacy.tar"), archive)
			for _, ref := range []string{"", "legacy:v1", "legacy:latest"} {
				src, img := resolveRef(t, p, ref)
				if src.Format != layout.FormatDockerArchive {
					t.Errorf("Format = %q", src.Format)
				}
				wantLayer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layerBlob), Size: int64(len(layerBlob))}
				if compressed {
					wantLayer.MediaType = ocispec.MediaTypeImageLayerGzip
				} else if wantLayer.Digest != diffID {
					t.Fatalf("an uncompressed layer's digest is its diff_id")
				}
				if diff := cmp.Diff([]ocispec.Descriptor{wantLayer}, img.Layers); diff != "" {
					t.Errorf("layers (-want +got):\n%s", diff)
				}
				if !bytes.Equal(img.Config.Data, config) {
					t.Errorf("config bytes changed: %s", img.Config.Data)
				}
				if img.Config.Descriptor.MediaType != ocispec.MediaTypeImageConfig || img.Converted {
					t.Errorf("config %s, converted %v: want an OCI config, not converted", img.Config.Descriptor.MediaType, img.Converted)
				}
				if diff := cmp.Diff([]digest.Digest{diffID}, img.DiffIDs()); diff != "" {
					t.Errorf("diff_ids (-want +got):\n%s", diff)
				}
				if got := fetchAll(t, src, wantLayer); !bytes.Equal(got, layerBlob) {
					t.Errorf("layer blob differs")
				}
				if diff := cmp.Diff([]string{"legacy:v1", "legacy:latest"}, src.Docker[0].RepoTags); diff != "" {
					t.Errorf("RepoTags (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// docker25Archive builds what Docker 25+ `docker save a:1 a:2 b:1 c` writes
// (moby image/tarexport/save.go): an OCI layout whose index.json has one
// entry per tag (a has two, the untagged c none) and manifest.json with one
// entry per image.
func docker25Archive(t *testing.T) (p string, a, b, c fixture) {
	t.Helper()
	dir := t.TempDir()
	a, b, c = newFixture(t, dir, 30, 100), newFixture(t, dir, 31, 200), newFixture(t, dir, 32, 300)
	var members []member
	seen := map[digest.Digest]bool{}
	var manifests []DockerEntry
	var index []ocispec.Descriptor
	tag := func(fx fixture, name, tag string) {
		d := fx.img.Manifest.Descriptor
		d.Annotations = map[string]string{"io.containerd.image.name": "docker.io/library/" + name + ":" + tag, ocispec.AnnotationRefName: tag}
		index = append(index, d)
	}
	for i, fx := range []fixture{a, b, c} {
		for d, data := range fx.blobs() {
			if !seen[d] {
				seen[d] = true
				members = append(members, regular("blobs/sha256/"+d.Encoded(), data))
			}
		}
		e := DockerEntry{Config: "blobs/sha256/" + fx.img.Config.Descriptor.Digest.Encoded(), RepoTags: []string{}}
		for _, l := range fx.layers {
			e.Layers = append(e.Layers, "blobs/sha256/"+l.desc.Digest.Encoded())
		}
		switch i {
		case 0:
			e.RepoTags = []string{"a:1", "a:2"}
			tag(fx, "a", "1")
			tag(fx, "a", "2")
		case 1:
			e.RepoTags = []string{"b:1"}
			tag(fx, "b", "1")
		}
		manifests = append(manifests, e)
	}
	mj, _ := json.Marshal(manifests)
	ij, _ := json.Marshal(ocispec.Index{Versioned: specVersion, MediaType: ocispec.MediaTypeImageIndex, Manifests: index})
	members = append(members, regular("index.json", ij), regular("manifest.json", mj), regular("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)))
	p = writeFile(t, filepath.Join(t.TempDir(), "docker25.tar"), tarBytes(t, members...))
	return p, a, b, c
}

type DockerEntry = layout.DockerManifestEntry

var specVersion = specs.Versioned{SchemaVersion: 2}

func TestFindRef(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	one := newFixture(t, t.TempDir(), 40, 100)
	two := newFixture(t, t.TempDir(), 41, 100)

	// A layout with several images, written by hand.
	several := filepath.Join(dir, "several")
	l := layout.New()
	for _, fx := range []fixture{one, two} {
		l.AddImage(fx.img)
		for _, lf := range fx.layers {
			l.AddFile(lf.desc, lf.path)
		}
	}
	named := func(fx fixture, ann ...string) ocispec.Descriptor {
		d := fx.img.Manifest.Descriptor
		d.Annotations = map[string]string{}
		for i := 0; i < len(ann); i += 2 {
			d.Annotations[ann[i]] = ann[i+1]
		}
		return d
	}
	l.Tag(named(one, "io.containerd.image.name", "example.com/one:v1"), "v1")
	l.Tag(named(two, "io.containerd.image.name", "example.com/two:v1"), "v1.1")
	l.Tag(named(two, "io.containerd.image.name", "example.com/two:latest"), "latest")
	l.Tag(named(one, "io.containerd.image.name", "example.com/one:latest"), "latest-one")
	if err := layout.WriteDir(ctx, several, l); err != nil {
		t.Fatal(err)
	}
	// Two images under one bare tag, as `docker save a:latest b:latest` gives.
	clash := filepath.Join(dir, "clash")
	l.Tag(named(one, "io.containerd.image.name", "example.com/one:latest"), "latest")
	if err := layout.WriteDir(ctx, clash, l); err != nil {
		t.Fatal(err)
	}
	docker25, a, b, _ := docker25Archive(t)
	legacy, _, _, _ := legacyArchive(t, false)
	legacyPath := writeFile(t, filepath.Join(dir, "legacy.tar"), legacy)

	tests := []struct {
		name    string
		path    string
		ref     string
		want    digest.Digest
		wantErr string
	}{
		{name: "ref.name", path: several, ref: "v1", want: one.img.Manifest.Descriptor.Digest},
		{name: "ref.name, another", path: several, ref: "latest", want: two.img.Manifest.Descriptor.Digest},
		{name: "full name", path: several, ref: "example.com/one:latest", want: one.img.Manifest.Descriptor.Digest},
		{name: "no name with several", path: several, ref: "", wantErr: "index.json holds 4 images (v1, v1.1, latest, latest-one): name one"},
		{name: "unknown name", path: several, ref: "v2", wantErr: `no image named "v2" in index.json`},
		{name: "a bare tag two images carry", path: clash, ref: "latest", wantErr: `"latest" names several images in index.json`},
		{name: "full name where the bare tag clashes", path: clash, ref: "example.com/two:latest", want: two.img.Manifest.Descriptor.Digest},
		{name: "Docker 25: first tag", path: docker25, ref: "a:1", want: a.img.Manifest.Descriptor.Digest},
		{name: "Docker 25: second tag of the same image", path: docker25, ref: "a:2", want: a.img.Manifest.Descriptor.Digest},
		{name: "Docker 25: RepoTag of the second image", path: docker25, ref: "b:1", want: b.img.Manifest.Descriptor.Digest},
		{name: "Docker 25: containerd name", path: docker25, ref: "docker.io/library/b:1", want: b.img.Manifest.Descriptor.Digest},
		{name: "Docker 25: several", path: docker25, ref: "", wantErr: "index.json holds 3 images"},
		{name: "Docker 25: the bare tag 1 is a's and b's", path: docker25, ref: "1", wantErr: `"1" names several images`},
		{name: "legacy RepoTag", path: legacyPath, ref: "legacy:latest"},
		{name: "legacy unknown", path: legacyPath, ref: "legacy:v2", wantErr: `no image named "legacy:v2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := layout.Open(ctx, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, err := src.FindRef(tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FindRef(%q) = %s, %v; want an error containing %q", tt.ref, got.Digest, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && got.Digest != tt.want {
				t.Errorf("FindRef(%q) = %s, want %s", tt.ref, got.Digest, tt.want)
			}
			if _, err := image.Resolve(ctx, src, got, nil); err != nil {
				t.Errorf("Resolve: %v", err)
			}
		})
	}
}

// paxRecord formats one PAX extended header record.
func paxRecord(k, v string) string {
	s := " " + k + "=" + v + "\n"
	n := len(s) + 1
	for len(fmt.Sprint(n))+len(s) != n {
		n++
	}
	return fmt.Sprint(n) + s
}

// withRawPAX returns a tar whose first member is a PAX extended header ('x')
// holding records, which archive/tar's writer would drop (GNU.sparse.*),
// followed by ms. The header is written as a regular file and retyped.
func withRawPAX(t *testing.T, records string, ms ...member) []byte {
	b := tarBytes(t, append([]member{regular("PaxHeaders/x", []byte(records))}, ms...)...)
	b[156] = tar.TypeXHeader
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// TestOpenRejects: every hostile or unreadable archive is an error naming
// what is wrong, never a silently clamped or skipped member.
func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, t.TempDir(), 50, 100)
	good := filepath.Join(t.TempDir(), "good.tar")
	if err := layout.WriteArchive(ctx, good, fx.layout("v1")); err != nil {
		t.Fatal(err)
	}
	goodBytes := readFile(t, good)
	idx := []byte(indexJSON(fx.img.Manifest.Descriptor, "v1"))
	layoutFile := regular("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	zst := func(b []byte) []byte {
		var buf bytes.Buffer
		w, err := reproducible.NewWriter(&buf, reproducible.Compression{Algorithm: reproducible.Zstd})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	link := func(typ byte, name, target string) member {
		return member{hdr: tar.Header{Typeflag: typ, Name: name, Linkname: target, Mode: 0o777, ModTime: time.Unix(0, 0)}}
	}
	special := func(typ byte, name string) member {
		return member{hdr: tar.Header{Typeflag: typ, Name: name, Mode: 0o644, ModTime: time.Unix(0, 0)}}
	}
	tests := []struct {
		name    string
		archive []byte
		wantIs  error
		wantErr string
	}{
		{name: "gzip", archive: gz(goodBytes), wantErr: "a compressed archive: decompress it first"},
		{name: "zstd", archive: zst(goodBytes), wantErr: "a compressed archive: decompress it first"},
		{name: "not a tar", archive: bytes.Repeat([]byte("not a tar "), 100), wantErr: "corrupt archive"},
		{name: "truncated inside a member", archive: goodBytes[:3*512+50], wantErr: "corrupt archive"},
		{name: "truncated before the end marker", archive: goodBytes[:len(goodBytes)-1024], wantErr: "truncated archive: no end-of-archive marker"},
		{name: "truncated between members", archive: goodBytes[:len(goodBytes)-2048], wantErr: "truncated archive: no end-of-archive marker"},
		{name: "no oci-layout", archive: tarBytes(t, regular("index.json", idx)), wantErr: "no oci-layout in the archive"},
		{name: "oci-layout of another version", archive: tarBytes(t, regular("index.json", idx), regular("oci-layout", []byte(`{"imageLayoutVersion":"2.0.0"}`))), wantErr: `oci-layout: want imageLayoutVersion "1.0.0"`},
		{name: "empty", archive: nil, wantErr: "neither an OCI archive (no index.json) nor a Docker archive (no manifest.json)"},
		{name: "climbing name", archive: tarBytes(t, regular("index.json", idx), regular("../x", []byte("x"))), wantIs: reproducible.ErrUnsafePath, wantErr: `member "../x"`},
		{name: "climbing later", archive: tarBytes(t, regular("blobs/../../x", []byte("x"))), wantIs: reproducible.ErrUnsafePath, wantErr: `member "blobs/../../x"`},
		{name: "absolute name", archive: tarBytes(t, regular("/etc/passwd", []byte("x"))), wantIs: reproducible.ErrUnsafePath, wantErr: `member "/etc/passwd"`},
		{name: "climbing directory", archive: tarBytes(t, directory("../d/"), regular("index.json", idx)), wantIs: reproducible.ErrUnsafePath, wantErr: `member "../d/"`},
		{name: "absolute directory", archive: tarBytes(t, directory("/blobs/"), regular("index.json", idx)), wantIs: reproducible.ErrUnsafePath, wantErr: `member "/blobs/"`},
		{name: "duplicate", archive: tarBytes(t, regular("index.json", idx), regular("index.json", idx)), wantErr: `member "index.json" appears twice`},
		{name: "duplicate after cleaning", archive: tarBytes(t, regular("./index.json", idx), regular("index.json", idx)), wantErr: `member "index.json" appears twice`},
		{name: "hard link", archive: tarBytes(t, regular("index.json", idx), link(tar.TypeLink, "oci-layout", "index.json")), wantErr: `member "oci-layout": type '1'`},
		{name: "character device", archive: tarBytes(t, special(tar.TypeChar, "blobs/sha256/x")), wantErr: `member "blobs/sha256/x": type '3'`},
		{name: "fifo", archive: tarBytes(t, special(tar.TypeFifo, "index.json")), wantErr: `member "index.json": type '6'`},
		{name: "absolute symlink", archive: tarBytes(t, regular("index.json", idx), link(tar.TypeSymlink, "oci-layout", "/etc/passwd")), wantIs: reproducible.ErrUnsafePath, wantErr: `member "oci-layout": symlink to "/etc/passwd"`},
		{name: "climbing symlink", archive: tarBytes(t, regular("index.json", idx), link(tar.TypeSymlink, "a/oci-layout", "../../x")), wantIs: reproducible.ErrUnsafePath, wantErr: `member "a/oci-layout": symlink to "../../x"`},
		{name: "dangling symlink", archive: tarBytes(t, regular("index.json", idx), link(tar.TypeSymlink, "oci-layout", "nothing")), wantErr: `member "oci-layout": symlink to "nothing": no such file`},
		{name: "symlink loop", archive: tarBytes(t, regular("index.json", idx), link(tar.TypeSymlink, "a", "b"), link(tar.TypeSymlink, "b", "a")), wantErr: "no such file"},
		{
			name:    "sparse file",
			archive: withRawPAX(t, paxRecord("GNU.sparse.numblocks", "1")+paxRecord("GNU.sparse.map", "0,5")+paxRecord("GNU.sparse.size", "10"), regular("blobs/sha256/"+strings.Repeat("a", 64), []byte("hello")), regular("index.json", idx), layoutFile),
			wantErr: `member "blobs/sha256/` + strings.Repeat("a", 64) + `": a sparse file`,
		},
		{name: "index.json not JSON", archive: tarBytes(t, regular("index.json", []byte("{")), layoutFile), wantErr: "index.json: unexpected end of JSON"},
		{name: "index.json manifests null", archive: tarBytes(t, regular("index.json", []byte(`{"schemaVersion":2,"manifests":null}`)), layoutFile), wantErr: "index.json: manifests is null"},
		{name: "index.json too large", archive: tarBytes(t, regular("index.json", bytes.Repeat([]byte(" "), blob.MaxMetadataBytes+1))), wantIs: blob.ErrTooLarge},
		{name: "manifest.json not JSON", archive: tarBytes(t, regular("manifest.json", []byte("[")), regular("index.json", idx), layoutFile), wantErr: "manifest.json: unexpected end of JSON"},
		{name: "legacy: missing layer", archive: tarBytes(t, regular("c.json", []byte("{}")), regular("manifest.json", []byte(`[{"Config":"c.json","Layers":["l/layer.tar"]}]`))), wantErr: "manifest.json[0].Layers[0]: no l/layer.tar in the archive"},
		{name: "legacy: climbing layer path", archive: tarBytes(t, regular("c.json", []byte("{}")), regular("manifest.json", []byte(`[{"Config":"c.json","Layers":["../../etc/passwd"]}]`))), wantErr: "manifest.json[0].Layers[0]"},
		{name: "legacy: missing config", archive: tarBytes(t, regular("manifest.json", []byte(`[{"Config":"c.json","Layers":[]}]`))), wantErr: "manifest.json[0].Config"},
		{
			name:    "legacy: a layer whose name is not its digest",
			archive: tarBytes(t, regular("c.json", []byte("{}")), regular("blobs/sha256/"+strings.Repeat("0", 64), []byte("x")), regular("manifest.json", []byte(`[{"Config":"c.json","Layers":["blobs/sha256/`+strings.Repeat("0", 64)+`"]}]`))),
			wantIs:  blob.ErrDigestMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(t.TempDir(), "archive.tar"), tt.archive)
			src, err := layout.Open(ctx, p)
			if err == nil {
				src.Close()
				t.Fatalf("Open succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestOpenSymlinkAlias(t *testing.T) {
	// skopeo and docker save before 25 write <id>/layer.tar as a symlink to
	// another member.
	archive, config, layerBlob, _ := legacyArchive(t, false)
	_ = config
	tr := tar.NewReader(bytes.NewReader(archive))
	var ms []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if strings.HasSuffix(h.Name, "/layer.tar") {
			ms = append(ms, regular("shared/layer.tar", data))
			ms = append(ms, member{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: h.Name, Linkname: "../shared/layer.tar", ModTime: time.Unix(0, 0)}})
			continue
		}
		ms = append(ms, member{hdr: *h, data: data})
	}
	p := writeFile(t, filepath.Join(t.TempDir(), "aliased.tar"), tarBytes(t, ms...))
	src, img := resolveRef(t, p, "legacy:v1")
	if got := fetchAll(t, src, img.Layers[0]); !bytes.Equal(got, layerBlob) {
		t.Errorf("layer through the symlink differs")
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
