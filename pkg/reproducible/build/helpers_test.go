package build_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

func writeFile(t testing.TB, path string, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// spec writes a spec file into dir (a checkout) and parses it.
func spec(t testing.TB, dir, js string) *build.SpecFile {
	t.Helper()
	p := writeFile(t, filepath.Join(dir, "image.json"), js)
	sf, err := build.ParseSpecFile(p, []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// checkout writes the inputs the specs of these tests use: a "binary" per
// platform.
func checkout(t testing.TB) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bin", "linux_amd64", "app"), "#!amd64 app\n")
	writeFile(t, filepath.Join(dir, "bin", "linux_arm64", "app"), "#!arm64 app\n")
	return dir
}

// gzipTar returns a gzip-compressed tar of one file, and its DiffID.
func gzipTar(t testing.TB, name, content string) ([]byte, digest.Digest) {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(content)), Mode: 0o644, ModTime: time.Unix(0, 0)})
	tw.Write([]byte(content))
	tw.Close()
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	zw.Write(tb.Bytes())
	zw.Close()
	return gb.Bytes(), digest.FromBytes(tb.Bytes())
}

// baseImage is one platform of a base image.
type baseImage struct {
	img   image.Image
	layer image.Blob
}

func newBase(t testing.TB, p ocispec.Platform, mediaTypes ...string) baseImage {
	t.Helper()
	layerType, configType, manifestType := ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageManifest
	if len(mediaTypes) == 3 {
		layerType, configType, manifestType = mediaTypes[0], mediaTypes[1], mediaTypes[2]
	}
	gz, diffID := gzipTar(t, "etc/base-release", "base for "+image.PlatformString(p)+"\n")
	layer := image.BlobOf(layerType, gz)
	cf, config, err := image.NewConfig(image.ConfigOptions{
		Platform: p,
		Overrides: image.Overrides{
			Env:          []string{"PATH=/usr/bin:/bin", "BASE=1"},
			Cmd:          []string{"/bin/sh"},
			Labels:       map[string]string{"base": "yes"},
			ExposedPorts: []string{"22"},
		},
		Layers: []image.LayerHistory{{DiffID: diffID, CreatedBy: "base layer"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	config.Descriptor.MediaType = configType
	m := map[string]any{"schemaVersion": 2, "mediaType": manifestType, "config": config.Descriptor, "layers": []ocispec.Descriptor{layer.Descriptor}}
	manifest, err := image.NewBlob(manifestType, m)
	if err != nil {
		t.Fatal(err)
	}
	return baseImage{img: image.Image{Manifest: manifest, Config: config, ConfigFile: cf, Layers: []ocispec.Descriptor{layer.Descriptor}, Platform: p}, layer: layer}
}

// writeBase writes base images as a layout: one image as its manifest, or
// several under an index (a Docker manifest list when the manifests are
// Docker's), tagged "v1". It returns the top descriptor.
func writeBase(t testing.TB, dst string, format layout.Format, bases ...baseImage) ocispec.Descriptor {
	t.Helper()
	l := layout.New()
	var entries []ocispec.Descriptor
	for _, b := range bases {
		l.AddImage(b.img)
		l.AddBlob(b.layer)
		d := b.img.Manifest.Descriptor
		p := b.img.Platform
		d.Platform = &p
		entries = append(entries, d)
	}
	top := bases[0].img.Manifest.Descriptor
	if len(bases) > 1 {
		mt := ocispec.MediaTypeImageIndex
		if entries[0].MediaType == image.DockerManifest {
			mt = image.DockerManifestList
		}
		idx, err := image.NewBlob(mt, map[string]any{"schemaVersion": 2, "mediaType": mt, "manifests": entries})
		if err != nil {
			t.Fatal(err)
		}
		l.AddBlob(idx)
		top = idx.Descriptor
	}
	l.Tag(top, "v1")
	var err error
	switch format {
	case layout.FormatDir:
		err = layout.WriteDir(context.Background(), dst, l)
	default:
		err = layout.WriteArchive(context.Background(), dst, l)
	}
	if err != nil {
		t.Fatal(err)
	}
	return top
}
