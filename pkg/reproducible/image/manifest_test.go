package image_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// layerDesc describes a made-up gzip layer.
func layerDesc(name string, size int64) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString(name), Size: size}
}

func TestNewManifestBytes(t *testing.T) {
	config := image.BlobOf(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`))
	cd := fmt.Sprintf(`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d}`, config.Descriptor.Digest, config.Descriptor.Size)
	l1, l2 := layerDesc("l1", 10), layerDesc("l2", 20)
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}
	tests := []struct {
		name   string
		config image.Blob
		layers []ocispec.Descriptor
		opts   image.ManifestOptions
		want   string
	}{
		{
			name:   "no layers: [] and no annotations",
			config: config,
			want:   `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` + cd + `,"layers":[]}`,
		},
		{
			name:   "empty layers and annotations",
			config: config,
			layers: []ocispec.Descriptor{},
			opts:   image.ManifestOptions{Annotations: map[string]string{}},
			want:   `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` + cd + `,"layers":[]}`,
		},
		{
			name:   "layers keep their order; annotations sorted",
			config: config,
			layers: []ocispec.Descriptor{l2, l1},
			opts:   image.ManifestOptions{Annotations: map[string]string{"z": "1", "a": "<&>"}},
			want: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` + cd + `,"layers":[` +
				fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":20},`, l2.Digest) +
				fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":10}`, l1.Digest) +
				`],"annotations":{"a":"<&>","z":"1"}}`,
		},
		{
			name:   "subject and artifactType",
			config: config,
			opts:   image.ManifestOptions{Subject: &subject, ArtifactType: "application/vnd.example.sbom"},
			want: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom",` + cd +
				fmt.Sprintf(`,"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":7}}`, subject.Digest),
		},
		{
			name:   "an artifact's config",
			config: image.BlobOf(ocispec.MediaTypeEmptyJSON, []byte("{}")),
			opts:   image.ManifestOptions{ArtifactType: "application/vnd.example.thing"},
			want: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.thing",` +
				`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := image.NewManifest(tt.config, tt.layers, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(m.Data)); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
			want := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(tt.want), Size: int64(len(tt.want))}
			if diff := cmp.Diff(want, m.Descriptor); diff != "" {
				t.Errorf("descriptor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewManifestDoesNotKeepInputs(t *testing.T) {
	config, err := image.NewBlob(ocispec.MediaTypeImageConfig, map[string]string{"os": "linux"})
	if err != nil {
		t.Fatal(err)
	}
	layers := []ocispec.Descriptor{layerDesc("l1", 1)}
	ann := map[string]string{"k": "v"}
	m, err := image.NewManifest(config, layers, image.ManifestOptions{Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	before := string(m.Data)
	layers[0].Size = 99
	ann["k"] = "changed"
	if string(m.Data) != before {
		t.Errorf("manifest bytes changed with its inputs")
	}
}

func TestNewManifestGolden(t *testing.T) {
	_, config, err := image.NewConfig(goldenConfigOptions())
	if err != nil {
		t.Fatal(err)
	}
	m, err := image.NewManifest(config, []ocispec.Descriptor{layerDesc("l1", 100), layerDesc("l2", 200)}, image.ManifestOptions{
		Annotations: map[string]string{
			ocispec.AnnotationBaseImageName:   "example.com/base:1",
			ocispec.AnnotationBaseImageDigest: digest.FromString("base").String(),
			ocispec.AnnotationCreated:         "2024-01-02T03:04:05Z",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "manifest.txt", fmt.Appendf(nil, "%s\n%s\n", m.Descriptor.Digest, m.Data))
}

func TestNewManifestErrors(t *testing.T) {
	_, err := image.NewManifest(image.BlobOf("application/vnd.example.config", []byte("{}")), nil, image.ManifestOptions{})
	if err == nil || !strings.Contains(err.Error(), `config media type "application/vnd.example.config" needs an artifactType`) {
		t.Errorf("NewManifest with a foreign config and no artifactType: %v", err)
	}
}

// platformManifests returns one manifest descriptor per platform, each with a
// digest of its own.
func platformManifests(platforms ...string) []ocispec.Descriptor {
	var ds []ocispec.Descriptor
	for _, s := range platforms {
		p, err := image.ParsePlatform(s)
		if err != nil {
			panic(err)
		}
		ds = append(ds, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s), Size: int64(len(s)), Platform: &p})
	}
	return ds
}

// TestNewIndexSorted is a property test: whatever the input order, the index
// has the same bytes, and its entries are in ComparePlatforms order.
func TestNewIndexSorted(t *testing.T) {
	in := platformManifests("linux/arm64/v8", "linux/amd64", "linux/arm/v7", "linux/arm/v6", "linux/s390x", "linux/ppc64le", "windows/amd64", "freebsd/amd64", "linux/386", "linux/riscv64")
	winFeatures := ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1", OSFeatures: []string{"win32k"}}
	winVersion := ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1"}
	in = append(in,
		ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("win-features"), Size: 1, Platform: &winFeatures},
		ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("win-version"), Size: 1, Platform: &winVersion},
	)
	first, err := image.NewIndex(in, map[string]string{"org.opencontainers.image.version": "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	mustUnmarshal(t, first.Data, &idx)
	var got []string
	for _, m := range idx.Manifests {
		got = append(got, image.PlatformString(*m.Platform)+" "+m.Platform.OSVersion+" "+strings.Join(m.Platform.OSFeatures, ","))
	}
	want := []string{
		"freebsd/amd64  ", "linux/386  ", "linux/amd64  ", "linux/arm/v6  ", "linux/arm/v7  ", "linux/arm64/v8  ",
		"linux/ppc64le  ", "linux/riscv64  ", "linux/s390x  ", "windows/amd64  ", "windows/amd64 10.0.17763.1 ", "windows/amd64 10.0.17763.1 win32k",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index order (-want +got):\n%s", diff)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		shuffled := slices.Clone(in)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, err := image.NewIndex(shuffled, map[string]string{"org.opencontainers.image.version": "1.0"})
		if err != nil {
			t.Fatal(err)
		}
		if string(again.Data) != string(first.Data) {
			t.Fatalf("shuffle %d: index bytes depend on input order:\n%s\n%s", i, first.Data, again.Data)
		}
	}
}

func TestNewIndexBytes(t *testing.T) {
	amd := platformManifests("linux/amd64")[0]
	tests := []struct {
		name      string
		manifests []ocispec.Descriptor
		ann       map[string]string
		want      string
	}{
		{
			name: "nil: manifests is [], never null",
			want: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`,
		},
		{
			name:      "empty with empty annotations",
			manifests: []ocispec.Descriptor{},
			ann:       map[string]string{},
			want:      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`,
		},
		{
			name:      "one entry with annotations",
			manifests: []ocispec.Descriptor{amd},
			ann:       map[string]string{"b": "2", "a": "1"},
			want: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
				fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":11,"platform":{"architecture":"amd64","os":"linux"}}`, amd.Digest) +
				`],"annotations":{"a":"1","b":"2"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := image.NewIndex(tt.manifests, tt.ann)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(idx.Data)); diff != "" {
				t.Errorf("index (-want +got):\n%s", diff)
			}
			if idx.Descriptor.MediaType != ocispec.MediaTypeImageIndex || idx.Descriptor.Digest != digest.FromString(tt.want) {
				t.Errorf("descriptor %+v does not describe the bytes", idx.Descriptor)
			}
		})
	}
}

func TestNewIndexGolden(t *testing.T) {
	idx, err := image.NewIndex(platformManifests("linux/arm64/v8", "linux/amd64"), map[string]string{ocispec.AnnotationCreated: "2024-01-02T03:04:05Z"})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "index.txt", fmt.Appendf(nil, "%s\n%s\n", idx.Descriptor.Digest, idx.Data))
}

func TestNewIndexErrors(t *testing.T) {
	dup := platformManifests("linux/amd64", "linux/arm64")
	again := platformManifests("linux/amd64")[0]
	again.Digest = digest.FromString("another build")
	noPlatform := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 1}
	config := platformManifests("linux/amd64")[0]
	config.MediaType = ocispec.MediaTypeImageConfig
	tests := []struct {
		name      string
		manifests []ocispec.Descriptor
		wantErr   string
	}{
		{"duplicate platform", append(dup, again), "index: two manifests for platform linux/amd64 ("},
		{"no platform", []ocispec.Descriptor{dup[0], noPlatform}, "index: manifests[1] " + noPlatform.Digest.String() + ": no platform"},
		{"not a manifest", []ocispec.Descriptor{config}, `index: manifests[0] ` + config.Digest.String() + `: media type "application/vnd.oci.image.config.v1+json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := image.NewIndex(tt.manifests, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewIndex error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
