package layout

// White-box: FuzzOpenArchive checks the member table Open builds, which the
// package does not export.

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// fuzzSeeds returns archives of every form Open reads, written by this
// package or built member by member.
func fuzzSeeds(f *testing.F) [][]byte {
	ctx := context.Background()
	dir := f.TempDir()
	layerTar := func(name, content string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(content)), Mode: 0o644, ModTime: time.Unix(0, 0)})
		tw.Write([]byte(content))
		tw.Close()
		return buf.Bytes()
	}
	lt := layerTar("hello", "hello\n")
	layer := image.BlobOf(ocispec.MediaTypeImageLayer, lt)
	_, config, err := image.NewConfig(image.ConfigOptions{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: []image.LayerHistory{{DiffID: layer.Descriptor.Digest}}})
	if err != nil {
		f.Fatal(err)
	}
	manifest, err := image.NewManifest(config, []ocispec.Descriptor{layer.Descriptor}, image.ManifestOptions{})
	if err != nil {
		f.Fatal(err)
	}
	img := image.Image{Manifest: manifest, Config: config, Layers: []ocispec.Descriptor{layer.Descriptor}, Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	l := New()
	l.AddImage(img)
	l.AddBlob(layer)
	l.Tag(manifest.Descriptor, "v1")
	var seeds [][]byte
	for i, write := range []func(string) error{
		func(p string) error { return WriteArchive(ctx, p, l) },
		func(p string) error { return WriteDockerArchive(ctx, p, l, img, []string{"example.com/app:v1"}) },
	} {
		p := filepath.Join(dir, string(rune('a'+i))+".tar")
		if err := write(p); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	tarOf := func(files ...any) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := 0; i < len(files); i += 2 {
			h := tar.Header{Typeflag: tar.TypeReg, Name: files[i].(string), Mode: 0o644, ModTime: time.Unix(0, 0)}
			switch v := files[i+1].(type) {
			case []byte:
				h.Size = int64(len(v))
				tw.WriteHeader(&h)
				tw.Write(v)
			case string: // a symlink
				h.Typeflag, h.Linkname = tar.TypeSymlink, v
				tw.WriteHeader(&h)
			}
		}
		tw.Close()
		return buf.Bytes()
	}
	// A legacy docker save archive, its layer.tar a symlink.
	seeds = append(seeds, tarOf(
		"0123/layer.tar", "../blobs/l.tar",
		"blobs/l.tar", lt,
		"c.json", config.Data,
		"manifest.json", []byte(`[{"Config":"c.json","RepoTags":["legacy:v1"],"Layers":["0123/layer.tar"]}]`),
	))
	// Hostile and broken ones.
	seeds = append(seeds,
		tarOf("../x", []byte("x")),
		tarOf("index.json", []byte(`{"manifests":[]}`), "oci-layout", "/etc/passwd"),
		tarOf("index.json", []byte(`{"manifests":null}`)),
		tarOf("manifest.json", []byte(`[{"Config":"../c.json","Layers":["/etc/passwd"]}]`)),
		tarOf("blobs/sha256/"+digest.FromString("x").Encoded(), []byte("y"), "index.json", []byte(`{"manifests":[]}`), "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)),
		nil,
	)
	return seeds
}

// FuzzOpenArchive writes fuzzed bytes to a file and opens it. It checks that
// Open does not panic, that every member name it accepted is clean (no
// absolute, climbing or uncleaned name, so no read or write outside the
// archive can come of it), and that an image it accepts resolves, writes
// back as an archive, and reads back the same.
//
// Each run writes files, so runs are slow (a few hundred a second) and the
// default minimization of every new input (-fuzzminimizetime 60s) looks
// like a hang: pass -fuzzminimizetime 2s when fuzzing for long.
func FuzzOpenArchive(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		dir := t.TempDir()
		p := filepath.Join(dir, "in.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := Open(ctx, p)
		if err != nil {
			return
		}
		defer src.Close()
		a := src.Fetcher.(*archive)
		for name := range a.members {
			if clean, err := reproducible.CleanMemberPath(name); err != nil || clean != name {
				t.Fatalf("accepted member %q (clean: %q, %v)", name, clean, err)
			}
		}
		for _, e := range src.Docker {
			for _, tag := range e.RepoTags {
				src.FindRef(tag)
			}
		}
		root, err := src.FindRef("")
		if err != nil {
			return
		}
		img, err := image.Resolve(ctx, src, root, nil)
		if err != nil {
			return
		}
		l := New()
		l.AddImage(img)
		for _, d := range img.Layers {
			l.AddFetched(d, src)
		}
		l.Tag(img.Manifest.Descriptor, "v1")
		out := filepath.Join(dir, "out.tar")
		if err := WriteArchive(ctx, out, l); err != nil {
			return // e.g. a layer the archive lacks
		}
		again, err := Open(ctx, out)
		if err != nil {
			t.Fatalf("our own archive of an accepted image: %v", err)
		}
		defer again.Close()
		root2, err := again.FindRef("v1")
		if err != nil {
			t.Fatal(err)
		}
		img2, err := image.Resolve(ctx, again, root2, nil)
		if err != nil {
			t.Fatalf("our own archive of an accepted image: %v", err)
		}
		// A converted Docker manifest is written back as its OCI form.
		img.Converted, img.SourceManifest, img2.SourceManifest = false, ocispec.Descriptor{}, ocispec.Descriptor{}
		if diff := cmp.Diff(img, img2); diff != "" {
			t.Fatalf("round trip (-read +written and read again):\n%s", diff)
		}
	})
}
