package build_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

func layerMeta(name string) layer.Metadata {
	return layer.Metadata{
		Version:    layer.MetadataVersion,
		Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString(name + " gz"), Size: 100},
		DiffID:     digest.FromString(name),
	}
}

func testImage(t *testing.T, p ocispec.Platform) image.Image {
	t.Helper()
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	img, err := build.Image(build.ImageRequest{
		Platform:    p,
		Created:     &created,
		Layers:      []build.Layer{{Metadata: layerMeta("a"), CreatedBy: "a"}, {Metadata: layerMeta("b " + image.PlatformString(p))}},
		Overrides:   image.Overrides{Cmd: []string{"run"}, Env: []string{"X=<&>"}},
		Annotations: map[string]string{"k": "v"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestImageMetadataRoundTrip: metadata written by one action and read by
// the next gives the same image.
func TestImageMetadataRoundTrip(t *testing.T) {
	img := testImage(t, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	p := filepath.Join(t.TempDir(), "image.json")
	if err := build.WriteJSON(p, build.NewImageMetadata(img)); err != nil {
		t.Fatal(err)
	}
	m, err := build.ReadImageMetadata(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Image()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(img, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(img.DiffIDs(), m.DiffIDs); diff != "" {
		t.Errorf("diffIDs (-want +got):\n%s", diff)
	}
	// The file is for people too: indented, the blobs as readable strings.
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), "\n  \"manifest\": {") || !strings.Contains(string(b), `X=<&>`) {
		t.Errorf("metadata file not indented or blobs escaped:\n%s", b)
	}
}

func TestIndexMetadataRoundTrip(t *testing.T) {
	imgs := []image.Image{
		testImage(t, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}),
		testImage(t, ocispec.Platform{OS: "linux", Architecture: "amd64"}),
	}
	m, err := build.NewIndexMetadata(imgs, map[string]string{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "index.json")
	if err := build.WriteJSON(p, m); err != nil {
		t.Fatal(err)
	}
	got, err := build.ReadIndexMetadata(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	idx, err := got.Index.Blob()
	if err != nil {
		t.Fatal(err)
	}
	var decoded ocispec.Index
	if err := json.Unmarshal(idx.Data, &decoded); err != nil {
		t.Fatal(err)
	}
	// Sorted by platform, each entry with its image's platform.
	if len(decoded.Manifests) != 2 || decoded.Manifests[0].Platform.Architecture != "amd64" || decoded.Manifests[1].Digest != imgs[0].Manifest.Descriptor.Digest || decoded.Manifests[1].Platform.Variant != "v8" {
		t.Errorf("index %s", idx.Data)
	}
}

// TestMetadataTampered: metadata whose parts disagree is refused, naming the
// file and the part.
func TestMetadataTampered(t *testing.T) {
	img := testImage(t, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	other := testImage(t, ocispec.Platform{OS: "linux", Architecture: "arm64"})
	tests := []struct {
		name    string
		change  func(m *build.ImageMetadata)
		wantErr string
	}{
		{"manifest bytes", func(m *build.ImageMetadata) {
			m.Manifest.Data = strings.Replace(m.Manifest.Data, `"k":"v"`, `"k":"w"`, 1)
		}, "manifest: " + img.Manifest.Descriptor.Digest.String()},
		{"manifest size", func(m *build.ImageMetadata) { m.Manifest.Descriptor.Size++ }, "manifest: "},
		{"manifest digest", func(m *build.ImageMetadata) { m.Manifest.Descriptor.Digest = digest.FromString("x") }, "manifest: "},
		{"config bytes", func(m *build.ImageMetadata) { m.Config.Data = strings.Replace(m.Config.Data, `"run"`, `"rum"`, 1) }, "config: " + img.Config.Descriptor.Digest.String()},
		{"config from another image", func(m *build.ImageMetadata) { m.Config = build.NewImageMetadata(other).Config }, "config"},
		{"a layer", func(m *build.ImageMetadata) { m.Layers[1].Digest = digest.FromString("evil") }, "layers[1]"},
		{"a layer dropped", func(m *build.ImageMetadata) { m.Layers = m.Layers[:1] }, "layers"},
		{"version", func(m *build.ImageMetadata) { m.Version = 2 }, "version 2: this imagewriter reads 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build.NewImageMetadata(img)
			m.Layers = append([]ocispec.Descriptor(nil), m.Layers...)
			tt.change(&m)
			if _, err := m.Image(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Image() error %v, want one containing %q", err, tt.wantErr)
			}
			p := filepath.Join(t.TempDir(), "image.json")
			if err := build.WriteJSON(p, m); err != nil {
				t.Fatal(err)
			}
			if _, err := build.ReadImageMetadata(p); err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("ReadImageMetadata error %v, want one naming %s", err, p)
			}
		})
	}
	// An index whose bytes were changed.
	m, err := build.NewIndexMetadata([]image.Image{img, other}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Index.Data = strings.Replace(m.Index.Data, "arm64", "arm65", 1)
	p := filepath.Join(t.TempDir(), "index.json")
	if err := build.WriteJSON(p, m); err != nil {
		t.Fatal(err)
	}
	if _, err := build.ReadIndexMetadata(p); err == nil || !strings.Contains(err.Error(), "index: ") {
		t.Errorf("ReadIndexMetadata of a changed index: %v", err)
	}
}

func TestImage(t *testing.T) {
	p := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	t.Run("history", func(t *testing.T) {
		img, err := build.Image(build.ImageRequest{Platform: p, Layers: []build.Layer{{Metadata: layerMeta("a")}, {Metadata: layerMeta("b"), CreatedBy: "b", Comment: "c"}}})
		if err != nil {
			t.Fatal(err)
		}
		want := []ocispec.History{{Created: img.ConfigFile.Created, CreatedBy: build.DefaultCreatedBy}, {Created: img.ConfigFile.Created, CreatedBy: "b", Comment: "c"}}
		if diff := cmp.Diff(want, img.ConfigFile.History); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
	})
	t.Run("no layers: an empty_layer entry", func(t *testing.T) {
		img, err := build.Image(build.ImageRequest{Platform: p, Overrides: image.Overrides{Cmd: []string{"x"}}})
		if err != nil {
			t.Fatal(err)
		}
		if h := img.ConfigFile.History; len(h) != 1 || !h[0].EmptyLayer || h[0].CreatedBy != build.DefaultCreatedBy+" config" {
			t.Errorf("history %+v", h)
		}
		if !strings.Contains(string(img.Manifest.Data), `"layers":[]`) {
			t.Errorf("manifest %s", img.Manifest.Data)
		}
	})
	t.Run("annotations: the request's over the base's", func(t *testing.T) {
		base := testImage(t, p)
		img, err := build.Image(build.ImageRequest{Platform: p, Base: &build.Base{Image: base, Name: "b:1"}, Annotations: map[string]string{ocispec.AnnotationBaseImageName: "override"}})
		if err != nil {
			t.Fatal(err)
		}
		var m ocispec.Manifest
		json.Unmarshal(img.Manifest.Data, &m)
		want := map[string]string{ocispec.AnnotationBaseImageName: "override", ocispec.AnnotationBaseImageDigest: base.Manifest.Descriptor.Digest.String()}
		if diff := cmp.Diff(want, m.Annotations); diff != "" {
			t.Errorf("annotations (-want +got):\n%s", diff)
		}
	})
	t.Run("a base without a name: no base annotations", func(t *testing.T) {
		img, err := build.Image(build.ImageRequest{Platform: p, Base: &build.Base{Image: testImage(t, p)}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(img.Manifest.Data), "annotations") {
			t.Errorf("manifest %s", img.Manifest.Data)
		}
	})
	t.Run("bad diff_id", func(t *testing.T) {
		bad := layerMeta("a")
		bad.DiffID = "sha256:x"
		if _, err := build.Image(build.ImageRequest{Platform: p, Layers: []build.Layer{{Metadata: layerMeta("a")}, {Metadata: bad}}}); err == nil || !strings.Contains(err.Error(), "layers[1]: diffID") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("artifact", func(t *testing.T) {
		subject := testImage(t, p).Manifest.Descriptor
		img, err := build.Image(build.ImageRequest{Platform: p, Subject: &subject, ArtifactType: "application/vnd.example"})
		if err != nil {
			t.Fatal(err)
		}
		var m ocispec.Manifest
		json.Unmarshal(img.Manifest.Data, &m)
		if m.ArtifactType != "application/vnd.example" || m.Subject == nil || m.Subject.Digest != subject.Digest {
			t.Errorf("manifest %s", img.Manifest.Data)
		}
	})
}
