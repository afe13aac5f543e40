package build_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// appSpec has a layer shared by every platform and one with a source per
// platform.
const appSpec = `{
  %s
  "created": "2024-01-02T03:04:05Z",
  "tag": "example.com/app:v1",
  "annotations": {"org.opencontainers.image.version": "1.0"},
  "indexAnnotations": {"org.opencontainers.image.title": "app"},
  "config": {"entrypoint": ["/app"], "env": ["A=1"]},
  "layers": [
    {"createdBy": "files", "entries": [{"type": "file", "path": "/etc/hello", "content": "hello\n"}]},
    {"createdBy": "app", "comment": "per platform", "entries": [
      {"type": "file", "path": "/app", "mode": "0755",
       "sources": {"linux/amd64": "bin/linux_amd64/app", "linux/arm64": "bin/linux_arm64/app"}}]}
  ]
}`

func appSpecWith(fields string) string { return strings.Replace(appSpec, "%s", fields, 1) }

func buildSpec(t *testing.T, dir, js string, opts build.Options) *build.Built {
	t.Helper()
	sf := spec(t, dir, js)
	if opts.BaseDir == "" {
		opts.BaseDir = dir
	}
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	built, err := build.Build(context.Background(), sf, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { built.Close() })
	return built
}

// images lists the images of an output, in index order.
func images(t *testing.T, out build.Output) []image.Image {
	t.Helper()
	if out.Image != nil {
		return []image.Image{*out.Image}
	}
	var imgs []image.Image
	for _, m := range out.Index.Images {
		img, err := m.Image()
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	return imgs
}

// workFiles lists the work directory: only finished layer blobs may stay.
func workFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
		if !strings.HasPrefix(e.Name(), "layer-") {
			t.Errorf("work directory holds %s", e.Name())
		}
	}
	return names
}

func TestBuildAndWrite(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		platforms  string
		wantLayers int // files in WorkDir
		want       []string
	}{
		{name: "default platform", wantLayers: 2, want: []string{"linux/amd64"}},
		{name: "one platform", platforms: `"platforms": ["linux/arm64"],`, wantLayers: 2, want: []string{"linux/arm64"}},
		// IndexMetadata.Images keep the spec's order; the index is sorted.
		{name: "two platforms, shared layer built once", platforms: `"platforms": ["linux/arm64", "linux/amd64"],`, wantLayers: 3, want: []string{"linux/arm64", "linux/amd64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := checkout(t)
			work := t.TempDir()
			built := buildSpec(t, dir, appSpecWith(tt.platforms), build.Options{WorkDir: work})
			if got := workFiles(t, work); len(got) != tt.wantLayers {
				t.Errorf("work directory holds %d layer blobs %v, want %d", len(got), got, tt.wantLayers)
			}
			imgs := images(t, built.Output)
			var got []string
			for _, img := range imgs {
				got = append(got, image.PlatformString(img.Platform))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("platforms (-want +got):\n%s", diff)
			}
			if (len(imgs) > 1) != (built.Output.Index != nil) {
				t.Errorf("an index for %d images: %v", len(imgs), built.Output.Index != nil)
			}
			for _, img := range imgs {
				if len(img.Layers) != 2 || img.Layers[0].Digest != imgs[0].Layers[0].Digest {
					t.Errorf("%s: layers %v: want two, the first shared", image.PlatformString(img.Platform), img.Layers)
				}
				cfg := img.ConfigFile
				if !slices.Equal(cfg.Config.Entrypoint, []string{"/app"}) || !slices.Equal(cfg.Config.Env, []string{"A=1"}) || cfg.Created.Format("2006") != "2024" {
					t.Errorf("config %s", img.Config.Data)
				}
				if h := cfg.History; len(h) != 2 || h[0].CreatedBy != "files" || h[1].CreatedBy != "app" || h[1].Comment != "per platform" {
					t.Errorf("history %+v", h)
				}
			}
			for _, format := range []layout.Format{layout.FormatDir, layout.FormatArchive, layout.FormatDockerArchive} {
				if format == layout.FormatDockerArchive && len(imgs) > 1 {
					continue
				}
				dst := filepath.Join(t.TempDir(), "out")
				out := built.Output
				out.Format = format
				if err := build.Write(ctx, dst, out, built.Blobs); err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				src, err := layout.Open(ctx, dst)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				for _, ref := range []string{"v1", "example.com/app:v1"} {
					root, err := src.FindRef(ref)
					if err != nil {
						t.Fatalf("%s: FindRef(%q): %v", format, ref, err)
					}
					for _, want := range imgs {
						p := want.Platform
						got, err := image.Resolve(ctx, src, root, &p)
						if err != nil {
							t.Fatalf("%s: %v", format, err)
						}
						want.SourceManifest = want.Manifest.Descriptor // as read back
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("%s %s (-built +read back):\n%s", format, image.PlatformString(p), diff)
						}
					}
				}
				if format != layout.FormatDir {
					continue
				}
				// Layer blobs are the work directory's files, linked.
				for d, p := range built.Blobs.Files {
					a, _ := os.Stat(p)
					b, err := os.Stat(layout.Dir(dst).BlobPath(d))
					if err != nil || !os.SameFile(a, b) {
						t.Errorf("%s: not a hard link to %s (%v)", d, p, err)
					}
				}
			}
		})
	}
}

// TestBuildReproducible: the digests do not depend on where the checkout or
// the work directory are.
func TestBuildReproducible(t *testing.T) {
	ctx := context.Background()
	js := appSpecWith(`"platforms": ["linux/amd64", "linux/arm64"],`)
	var archives [][]byte
	for range 2 {
		built := buildSpec(t, checkout(t), js, build.Options{})
		dst := filepath.Join(t.TempDir(), "image.tar")
		out := built.Output
		out.Format = layout.FormatArchive
		if err := build.Write(ctx, dst, out, built.Blobs); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, b)
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Errorf("two checkouts: archives %s and %s", digest.FromBytes(archives[0]), digest.FromBytes(archives[1]))
	}
}

func TestWriteErrors(t *testing.T) {
	ctx := context.Background()
	built := buildSpec(t, checkout(t), appSpecWith(`"platforms": ["linux/amd64", "linux/arm64"],`), build.Options{})
	single := buildSpec(t, checkout(t), appSpecWith(``), build.Options{})
	tests := []struct {
		name    string
		out     build.Output
		blobs   build.Blobs
		wantIs  error
		wantErr string
	}{
		{name: "docker-archive of an index", out: build.Output{Format: layout.FormatDockerArchive, Index: built.Output.Index}, blobs: built.Blobs, wantErr: "docker-archive holds one platform's image"},
		{name: "neither image nor index", out: build.Output{Format: layout.FormatDir}, wantErr: "give an image or an index"},
		{name: "both image and index", out: build.Output{Image: single.Output.Image, Index: built.Output.Index}, blobs: built.Blobs, wantErr: "give an image or an index"},
		{name: "unknown format", out: build.Output{Format: "zip", Image: single.Output.Image}, blobs: single.Blobs, wantErr: `format "zip"`},
		{name: "a digest as the tag", out: build.Output{Tag: "example.com/app@" + digest.FromString("x").String(), Image: single.Output.Image}, blobs: single.Blobs, wantErr: "a digest cannot name an output"},
		{name: "a bad tag", out: build.Output{Tag: "Example/App", Image: single.Output.Image}, blobs: single.Blobs, wantErr: "tag: reference"},
		{name: "a layer nobody holds", out: build.Output{Image: single.Output.Image}, wantIs: blob.ErrNotFound, wantErr: "no layer file or base image holds it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			err := build.Write(ctx, filepath.Join(parent, "out"), tt.out, tt.blobs)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Write error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			if es, _ := os.ReadDir(parent); len(es) != 0 {
				t.Errorf("left behind: %v", es)
			}
		})
	}
}

// TestWriteNames: a tagged output's index.json entry carries the bare tag
// and the full name, and a docker archive the full name as its RepoTag.
func TestWriteNames(t *testing.T) {
	ctx := context.Background()
	built := buildSpec(t, checkout(t), appSpecWith(``), build.Options{})
	for _, tt := range []struct {
		tag, ref, name string
	}{
		{"example.com/app:v1", "v1", "example.com/app:v1"},
		{"localhost:5000/team/app", "latest", "localhost:5000/team/app:latest"},
		{"", "", ""},
	} {
		out := built.Output
		out.Tag = tt.tag
		out.Format = layout.FormatDockerArchive
		dst := filepath.Join(t.TempDir(), "docker.tar")
		if err := build.Write(ctx, dst, out, built.Blobs); err != nil {
			t.Fatal(err)
		}
		src, err := layout.Open(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		ann := src.Index.Manifests[0].Annotations
		if ann[ocispec.AnnotationRefName] != tt.ref || ann[build.ContainerdImageNameAnnotation] != tt.name {
			t.Errorf("tag %q: index.json annotations %v", tt.tag, ann)
		}
		var want []string
		if tt.name != "" {
			want = []string{tt.name}
		}
		if diff := cmp.Diff(want, src.Docker[0].RepoTags, cmpEmpty); diff != "" {
			t.Errorf("tag %q: RepoTags (-want +got):\n%s", tt.tag, diff)
		}
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

// TestBuildBase: a base image from a layout directory or an OCI archive.
// Its config is inherited, its layers come first and are reused as they are
// (hard-linked from a layout directory), and the manifest names it.
func TestBuildBase(t *testing.T) {
	ctx := context.Background()
	amd := newBase(t, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	arm := newBase(t, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	for _, format := range []layout.Format{layout.FormatDir, layout.FormatArchive} {
		t.Run(string(format), func(t *testing.T) {
			dir := checkout(t)
			basePath := filepath.Join(dir, "base")
			writeBase(t, basePath, format, amd, arm)
			js := appSpecWith(`"platforms": ["linux/amd64", "linux/arm64"], "base": {"path": "base", "ref": "v1", "name": "example.com/base:v1"},`)
			built := buildSpec(t, dir, js, build.Options{})
			imgs := images(t, built.Output)
			for i, b := range []baseImage{amd, arm} {
				img := imgs[i]
				if img.Layers[0].Digest != b.layer.Descriptor.Digest || len(img.Layers) != 3 {
					t.Errorf("%s: layers %v: want the base's first, then two", image.PlatformString(img.Platform), img.Layers)
				}
				var m ocispec.Manifest
				if err := json.Unmarshal(img.Manifest.Data, &m); err != nil {
					t.Fatal(err)
				}
				want := map[string]string{
					ocispec.AnnotationBaseImageName:    "example.com/base:v1",
					ocispec.AnnotationBaseImageDigest:  b.img.Manifest.Descriptor.Digest.String(),
					"org.opencontainers.image.version": "1.0",
				}
				if diff := cmp.Diff(want, m.Annotations); diff != "" {
					t.Errorf("annotations (-want +got):\n%s", diff)
				}
				c := img.ConfigFile.Config
				if !slices.Equal(c.Env, []string{"PATH=/usr/bin:/bin", "BASE=1", "A=1"}) || c.Cmd != nil || c.Labels["base"] != "yes" {
					t.Errorf("config not inherited with Dockerfile semantics: %s", img.Config.Data)
				}
				if got := img.DiffIDs(); len(got) != 3 || got[0] != b.img.ConfigFile.RootFS.DiffIDs[0] {
					t.Errorf("diff_ids %v", got)
				}
			}
			dst := filepath.Join(t.TempDir(), "out")
			if err := build.Write(ctx, dst, built.Output, built.Blobs); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(layout.Dir(dst).BlobPath(amd.layer.Descriptor.Digest))
			if err != nil || !bytes.Equal(got, amd.layer.Data) {
				t.Fatalf("base layer in the output: %v", err)
			}
			if format == layout.FormatDir {
				a, _ := os.Stat(layout.Dir(basePath).BlobPath(amd.layer.Descriptor.Digest))
				b, _ := os.Stat(layout.Dir(dst).BlobPath(amd.layer.Descriptor.Digest))
				if !os.SameFile(a, b) {
					t.Errorf("base layer not hard-linked from the base layout")
				}
			}
		})
	}
}

// TestBuildDockerBase: a base whose manifests are Docker's is converted; its
// blobs are reused, and base.digest names the manifest the base holds.
func TestBuildDockerBase(t *testing.T) {
	dir := checkout(t)
	docker := newBase(t, ocispec.Platform{OS: "linux", Architecture: "amd64"}, image.DockerLayer, image.DockerConfig, image.DockerManifest)
	writeBase(t, filepath.Join(dir, "base"), layout.FormatDir, docker)
	built := buildSpec(t, dir, appSpecWith(`"base": {"path": "base", "name": "docker.io/library/base:v1"},`), build.Options{})
	img := built.Output.Image
	var m ocispec.Manifest
	if err := json.Unmarshal(img.Manifest.Data, &m); err != nil {
		t.Fatal(err)
	}
	if got := m.Annotations[ocispec.AnnotationBaseImageDigest]; got != docker.img.Manifest.Descriptor.Digest.String() {
		t.Errorf("base.digest %s, want the Docker manifest's %s", got, docker.img.Manifest.Descriptor.Digest)
	}
	want := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: docker.layer.Descriptor.Digest, Size: docker.layer.Descriptor.Size}
	if diff := cmp.Diff(want, m.Layers[0]); diff != "" {
		t.Errorf("base layer (-want +got):\n%s", diff)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := build.Write(context.Background(), dst, built.Output, built.Blobs); err != nil {
		t.Fatal(err)
	}
	for _, d := range img.Layers {
		if strings.Contains(d.MediaType, "docker") {
			t.Errorf("a Docker media type in the output: %s", d.MediaType)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	amd := newBase(t, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	tests := []struct {
		name    string
		fields  string
		opts    build.Options
		wantErr string
	}{
		{name: "bad platform", fields: `"platforms": ["linux/x86_64"],`, wantErr: `platforms[0]: platform "linux/x86_64"`},
		{name: "bad platform option", opts: build.Options{Platforms: []string{"linux"}}, wantErr: `platforms[0]: platform "linux"`},
		{name: "base path missing", fields: `"base": {"path": "nowhere"},`, wantErr: "base: "},
		{name: "base path empty", fields: `"base": {"name": "x"},`, wantErr: "base.path: required"},
		{name: "base of another platform", fields: `"platforms": ["linux/arm64"], "base": {"path": "base"},`, wantErr: "linux/arm64: base is linux/amd64, the image is linux/arm64"},
		{name: "base ref unknown", fields: `"base": {"path": "base", "ref": "v9"},`, wantErr: `no image named "v9"`},
		{name: "bad env", fields: `"config": {"env": ["A=1", "B"]}, "layers": [],`, wantErr: `config.Env[1]: "B"`},
		{name: "bad port", fields: `"config": {"exposedPorts": ["http"]}, "layers": [],`, wantErr: `config.ExposedPorts[0]: port "http"`},
		{name: "bad created", fields: `"created": "yesterday", "layers": [],`, wantErr: `created: time "yesterday"`},
		{name: "bad healthcheck", fields: `"config": {"healthcheck": {"test": ["CMD"], "interval": "often"}}, "layers": [],`, wantErr: "config.healthcheck.interval"},
		{name: "bad tag", fields: `"tag": "Example/App",`, wantErr: "tag: reference"},
		{name: "a layer source missing", fields: `"platforms": ["linux/s390x"],`, wantErr: "layers[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := checkout(t)
			writeBase(t, filepath.Join(dir, "base"), layout.FormatDir, amd)
			// Later fields replace earlier ones in a JSON object: the
			// case's fields go last.
			js := strings.Replace(appSpecWith(""), "\n}", ",\n"+strings.TrimSuffix(strings.TrimSpace(tt.fields), ",")+"\n}", 1)
			if tt.fields == "" {
				js = appSpecWith("")
			}
			sf, err := build.ParseSpecFile("image.json", []byte(js))
			if err != nil {
				// Duplicate keys are fine for encoding/json; a bad test is not.
				t.Fatal(err)
			}
			work := t.TempDir()
			tt.opts.BaseDir, tt.opts.WorkDir = dir, work
			built, err := build.Build(context.Background(), sf, tt.opts)
			if err == nil {
				built.Close()
				t.Fatalf("Build succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			for _, name := range workFiles(t, work) {
				_ = name // finished layers may stay; nothing else (checked in workFiles)
			}
		})
	}
}

// TestBuildWorkDirRequired: with layers to build and no WorkDir, Build
// must not write into the current directory.
func TestBuildWorkDirRequired(t *testing.T) {
	dir := checkout(t)
	sf := spec(t, dir, appSpecWith(``))
	cwd, _ := os.Getwd()
	before, _ := os.ReadDir(cwd)
	built, err := build.Build(context.Background(), sf, build.Options{BaseDir: dir})
	if err == nil {
		built.Close()
		t.Errorf("Build without a WorkDir succeeded")
	} else if !strings.Contains(err.Error(), "WorkDir") {
		t.Errorf("error %q does not name WorkDir", err)
	}
	after, _ := os.ReadDir(cwd)
	if len(after) != len(before) {
		t.Errorf("Build wrote into the current directory: %d entries, then %d", len(before), len(after))
	}
}

// TestWriteSeveralBases: layer blobs come from whichever base holds them,
// whatever the order the bases are given in and whatever their form.
func TestWriteSeveralBases(t *testing.T) {
	ctx := context.Background()
	a := newBase(t, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	b := newBase(t, ocispec.Platform{OS: "linux", Architecture: "arm64"})
	dir := t.TempDir()
	paths := map[string]string{}
	for _, f := range []layout.Format{layout.FormatDir, layout.FormatArchive} {
		paths["a "+string(f)] = filepath.Join(dir, "a-"+string(f))
		paths["b "+string(f)] = filepath.Join(dir, "b-"+string(f))
		writeBase(t, paths["a "+string(f)], f, a)
		writeBase(t, paths["b "+string(f)], f, b)
	}
	// An image over both bases' layers.
	img, err := build.Image(build.ImageRequest{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Base:     &build.Base{Image: a.img},
		Layers:   []build.Layer{{Metadata: layer.Metadata{Version: layer.MetadataVersion, Descriptor: b.layer.Descriptor, DiffID: b.img.ConfigFile.RootFS.DiffIDs[0]}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]string{
		{"a oci-archive", "b oci-archive"},
		{"b oci-archive", "a oci-archive"},
		{"b oci", "a oci-archive"},
		{"a oci-archive", "b oci"},
	} {
		t.Run(strings.Join(order, ", "), func(t *testing.T) {
			var blobs build.Blobs
			for _, name := range order {
				src, err := layout.Open(ctx, paths[name])
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				blobs.Fetchers = append(blobs.Fetchers, src.Fetcher)
			}
			dst := filepath.Join(t.TempDir(), "out")
			if err := build.Write(ctx, dst, build.Output{Image: &img}, blobs); err != nil {
				t.Fatal(err)
			}
			for _, l := range []image.Blob{a.layer, b.layer} {
				got, err := os.ReadFile(layout.Dir(dst).BlobPath(l.Descriptor.Digest))
				if err != nil || !bytes.Equal(got, l.Data) {
					t.Errorf("layer %s: %v", l.Descriptor.Digest, err)
				}
			}
		})
	}
}
