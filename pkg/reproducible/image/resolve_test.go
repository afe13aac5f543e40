package image_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

func push(t testing.TB, m *blob.Memory, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := m.Push(context.Background(), d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return d
}

func pushJSON(t testing.TB, m *blob.Memory, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return push(t, m, mediaType, b)
}

// addImage stores an OCI image for p with n made-up layers (their blobs are
// not stored: Resolve never reads layers) and returns what Resolve should
// give for it.
func addImage(t testing.TB, m *blob.Memory, p ocispec.Platform, n int) image.Image {
	t.Helper()
	layers := []ocispec.Descriptor{} // as decoded from "layers":[]
	var hist []image.LayerHistory
	for i := range n {
		name := fmt.Sprintf("%s layer %d", image.PlatformString(p), i)
		layers = append(layers, layerDesc(name, int64(100+i)))
		hist = append(hist, image.LayerHistory{DiffID: digest.FromString("diff " + name), CreatedBy: name})
	}
	cf, config, err := image.NewConfig(image.ConfigOptions{Platform: p, Layers: hist, Overrides: image.Overrides{Cmd: []string{"run"}}})
	if err != nil {
		t.Fatal(err)
	}
	man, err := image.NewManifest(config, layers, image.ManifestOptions{Annotations: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	push(t, m, config.Descriptor.MediaType, config.Data)
	push(t, m, man.Descriptor.MediaType, man.Data)
	return image.Image{Manifest: man, Config: config, ConfigFile: cf, Layers: layers, Platform: p, SourceManifest: man.Descriptor}
}

// addIndex stores an index (OCI or Docker list, by mediaType) of images.
func addIndex(t testing.TB, m *blob.Memory, mediaType string, entries ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	return pushJSON(t, m, mediaType, map[string]any{"schemaVersion": 2, "mediaType": mediaType, "manifests": entries})
}

func entry(img image.Image) ocispec.Descriptor {
	d := img.Manifest.Descriptor
	p := img.Platform
	d.Platform = &p
	return d
}

// noLayerFetches wraps f so that the test fails if a layer blob is fetched.
func noLayerFetches(t *testing.T, f blob.Fetcher) blob.Fetcher {
	return blob.FetcherFunc(func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
		if strings.Contains(d.MediaType, "layer") || strings.Contains(d.MediaType, "rootfs") {
			t.Errorf("Resolve fetched layer %s %s", d.Digest, d.MediaType)
		}
		return f.Fetch(ctx, d)
	})
}

func TestResolveOCI(t *testing.T) {
	m := blob.NewMemory()
	amd := addImage(t, m, linuxAMD64, 2)
	arm := addImage(t, m, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, 1)
	armv7 := addImage(t, m, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 0)
	one := addIndex(t, m, ocispec.MediaTypeImageIndex, entry(amd))
	multi := addIndex(t, m, ocispec.MediaTypeImageIndex, entry(amd), entry(arm), entry(armv7))
	nested := addIndex(t, m, ocispec.MediaTypeImageIndex, ocispec.Descriptor{MediaType: multi.MediaType, Digest: multi.Digest, Size: multi.Size})
	tests := []struct {
		name     string
		root     ocispec.Descriptor
		platform string
		want     image.Image
	}{
		{"a manifest", amd.Manifest.Descriptor, "", amd},
		{"a manifest, platform given", amd.Manifest.Descriptor, "linux/amd64", amd},
		{"an index of one, no platform", one, "", amd},
		{"an index of one, its platform", one, "linux/amd64", amd},
		{"an index, amd64", multi, "linux/amd64", amd},
		{"an index, arm64 matches arm64/v8", multi, "linux/arm64", arm},
		{"an index, arm64/v8", multi, "linux/arm64/v8", arm},
		{"an index, arm/v7", multi, "linux/arm/v7", armv7},
		{"an index in an index", nested, "linux/arm64", arm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var platform *ocispec.Platform
			if tt.platform != "" {
				p, err := image.ParsePlatform(tt.platform)
				if err != nil {
					t.Fatal(err)
				}
				platform = &p
			}
			got, err := image.Resolve(context.Background(), noLayerFetches(t, m), tt.root, platform)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want.ConfigFile.RootFS.DiffIDs, got.DiffIDs()); diff != "" {
				t.Errorf("DiffIDs (-want +got):\n%s", diff)
			}
		})
	}
}

// dockerConfig is a config as Docker writes it: Docker-only fields that we
// do not model, and the Docker extensions that we do.
const dockerConfig = `{"architecture":"amd64","config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000},"OnBuild":null,"Image":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"container_config":{"Cmd":["/bin/sh","-c","#(nop) CMD [\"/bin/sh\"]"]},"created":"2023-08-07T19:20:20.894140623Z","docker_version":"20.10.23","history":[{"created":"2023-08-07T19:20:20.71894984Z","created_by":"ADD file:32ff5e7a78b890996ee4681cc0a26185d3e9acdb4eb1e2aaccb2411f922fed6b in / "},{"created":"2023-08-07T19:20:20.894140623Z","created_by":"CMD [\"/bin/sh\"]","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:4693057ce2364720d39e57e85a5b8e0bd9ac3573716237736d6470ec5b7b7230"]}}`

func dockerManifest(config ocispec.Descriptor, layers ...ocispec.Descriptor) map[string]any {
	return map[string]any{"schemaVersion": 2, "mediaType": image.DockerManifest, "config": config, "layers": layers}
}

func TestResolveDocker(t *testing.T) {
	m := blob.NewMemory()
	config := push(t, m, image.DockerConfig, []byte(dockerConfig))
	layer := ocispec.Descriptor{MediaType: image.DockerLayer, Digest: digest.FromString("alpine layer"), Size: 3348169}
	foreign := ocispec.Descriptor{MediaType: image.DockerForeignLayer, Digest: digest.FromString("windows base"), Size: 12, URLs: []string{"https://example.com/layer"}}
	uncompressed := ocispec.Descriptor{MediaType: "application/vnd.docker.image.rootfs.diff.tar", Digest: digest.FromString("plain tar"), Size: 10240}
	tests := []struct {
		name       string
		layer      ocispec.Descriptor
		wantLayer  ocispec.Descriptor
		viaList    bool
		wantConfig string
	}{
		{name: "gzip layer", layer: layer, wantLayer: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layer.Digest, Size: layer.Size}},
		{name: "gzip layer, through a manifest list", layer: layer, viaList: true, wantLayer: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layer.Digest, Size: layer.Size}},
		{name: "foreign layer", layer: foreign, wantLayer: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerNonDistributableGzip, Digest: foreign.Digest, Size: foreign.Size, URLs: foreign.URLs}}, //nolint:staticcheck // the OCI name for foreign layers
		{name: "uncompressed layer", layer: uncompressed, wantLayer: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: uncompressed.Digest, Size: uncompressed.Size}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			man := pushJSON(t, m, image.DockerManifest, dockerManifest(config, tt.layer))
			root := man
			var platform *ocispec.Platform
			if tt.viaList {
				e := man
				e.Platform = &linuxAMD64
				other := ocispec.Descriptor{MediaType: image.DockerManifest, Digest: digest.FromString("arm64 manifest"), Size: 1, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}
				root = addIndex(t, m, image.DockerManifestList, other, e)
				platform = &linuxAMD64
			}
			got, err := image.Resolve(context.Background(), noLayerFetches(t, m), root, platform)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Converted {
				t.Errorf("Converted = false for a Docker manifest")
			}
			wantConfig := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: config.Digest, Size: config.Size}
			if diff := cmp.Diff(wantConfig, got.Config.Descriptor); diff != "" {
				t.Errorf("config descriptor (-want +got):\n%s", diff)
			}
			if string(got.Config.Data) != dockerConfig {
				t.Errorf("config bytes changed:\n%s", got.Config.Data)
			}
			if diff := cmp.Diff([]ocispec.Descriptor{tt.wantLayer}, got.Layers); diff != "" {
				t.Errorf("layers (-want +got):\n%s", diff)
			}
			// The manifest is the OCI form of the same graph.
			wantManifest, err := image.NewManifest(image.Blob{Descriptor: wantConfig, Data: got.Config.Data}, []ocispec.Descriptor{tt.wantLayer}, image.ManifestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantManifest, got.Manifest); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
			if got.Manifest.Descriptor.Digest == man.Digest {
				t.Errorf("manifest digest is the Docker manifest's")
			}
			wantSource := ocispec.Descriptor{MediaType: image.DockerManifest, Digest: man.Digest, Size: man.Size}
			if diff := cmp.Diff(wantSource, got.SourceManifest); diff != "" {
				t.Errorf("source manifest (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(linuxAMD64, got.Platform); diff != "" {
				t.Errorf("platform (-want +got):\n%s", diff)
			}
			wantHealth := &image.HealthConfig{Test: []string{"CMD", "true"}, Interval: 30_000_000_000}
			if diff := cmp.Diff(wantHealth, got.ConfigFile.Config.Healthcheck); diff != "" {
				t.Errorf("healthcheck (-want +got):\n%s", diff)
			}
		})
	}
}

// rawFetcher serves whatever bytes it holds for a digest, unverified: a
// broken or hostile store. Resolve must verify what it reads itself.
type rawFetcher map[digest.Digest][]byte

func (f rawFetcher) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := f[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", d.Digest, blob.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestResolveErrors(t *testing.T) {
	m := blob.NewMemory()
	amd := addImage(t, m, linuxAMD64, 1)
	arm := addImage(t, m, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, 1)
	armv6 := addImage(t, m, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, 1)
	armv7 := addImage(t, m, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 1)
	multi := addIndex(t, m, ocispec.MediaTypeImageIndex, entry(amd), entry(arm))
	arms := addIndex(t, m, ocispec.MediaTypeImageIndex, entry(armv6), entry(armv7))
	empty := addIndex(t, m, ocispec.MediaTypeImageIndex, []ocispec.Descriptor{}...)
	null := pushJSON(t, m, ocispec.MediaTypeImageIndex, map[string]any{"schemaVersion": 2, "manifests": nil})

	dockerCfg := push(t, m, image.DockerConfig, []byte(dockerConfig))
	ociLayer := layerDesc("oci layer", 10)
	dockerLayer := ocispec.Descriptor{MediaType: image.DockerLayer, Digest: digest.FromString("docker layer"), Size: 10}
	ociCfg := amd.Config.Descriptor

	// config makes a manifest over a config with the given JSON.
	config := func(js string, layers ...ocispec.Descriptor) ocispec.Descriptor {
		c := push(t, m, ocispec.MediaTypeImageConfig, []byte(js))
		return pushJSON(t, m, ocispec.MediaTypeImageManifest, map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": c, "layers": layers})
	}
	manifest := func(v map[string]any) ocispec.Descriptor {
		mt, _ := v["mediaType"].(string)
		if mt == "" {
			mt = ocispec.MediaTypeImageManifest
		}
		return pushJSON(t, m, mt, v)
	}
	deep := multi
	for range 6 {
		deep = addIndex(t, m, ocispec.MediaTypeImageIndex, deep)
	}
	badLayer := ociLayer
	badLayer.Digest = "sha256:../../../../etc/passwd"

	tests := []struct {
		name     string
		root     ocispec.Descriptor
		platform *ocispec.Platform
		wantIs   error
		wantErr  []string
	}{
		{name: "several platforms, none asked", root: multi, wantErr: []string{multi.Digest.String(), "several platforms (linux/amd64, linux/arm64/v8)"}},
		{name: "no manifest for the platform", root: multi, platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}, wantErr: []string{"no manifest for platform linux/s390x (have linux/amd64, linux/arm64/v8)"}},
		{name: "no variant asked, several match", root: arms, platform: &ocispec.Platform{OS: "linux", Architecture: "arm"}, wantErr: []string{"linux/arm", "linux/arm/v6", "linux/arm/v7"}},
		{name: "an empty index", root: empty, wantErr: []string{"holds no manifest"}},
		{name: "manifests null", root: null, wantErr: []string{"manifests is null"}},
		{name: "nested too deep", root: deep, wantErr: []string{"nested too deep"}},
		{name: "root is a config", root: ociCfg, wantErr: []string{"neither an index nor an image manifest"}},
		{name: "missing blob", root: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("nothing"), Size: 7}, wantIs: blob.ErrNotFound},
		{name: "bad root digest", root: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:zz", Size: 7}, wantErr: []string{"digest"}},
		{
			name:    "Docker manifest with an OCI layer",
			root:    manifest(dockerManifest(dockerCfg, dockerLayer, ociLayer)),
			wantIs:  image.ErrMediaTypeMix,
			wantErr: []string{"layers[1] " + ocispec.MediaTypeImageLayerGzip},
		},
		{
			name:    "Docker manifest with an OCI config",
			root:    manifest(dockerManifest(ociCfg, dockerLayer)),
			wantIs:  image.ErrMediaTypeMix,
			wantErr: []string{"config " + ocispec.MediaTypeImageConfig},
		},
		{
			name:    "OCI manifest with a Docker layer",
			root:    manifest(map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": ociCfg, "layers": []ocispec.Descriptor{ociLayer, dockerLayer}}),
			wantIs:  image.ErrMediaTypeMix,
			wantErr: []string{"layers[1] " + image.DockerLayer},
		},
		{
			name:    "OCI manifest with a Docker config",
			root:    manifest(map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": dockerCfg, "layers": []ocispec.Descriptor{ociLayer}}),
			wantIs:  image.ErrMediaTypeMix,
			wantErr: []string{"config " + image.DockerConfig},
		},
		{
			name:    "schemaVersion 1",
			root:    manifest(map[string]any{"schemaVersion": 1, "config": ociCfg, "layers": []ocispec.Descriptor{}}),
			wantErr: []string{"schemaVersion 1: want 2"},
		},
		{
			name:    "mediaType differs from the descriptor's",
			root:    pushJSON(t, m, ocispec.MediaTypeImageManifest, map[string]any{"schemaVersion": 2, "mediaType": image.DockerManifest, "config": ociCfg, "layers": []ocispec.Descriptor{}}),
			wantErr: []string{`mediaType "` + image.DockerManifest + `" in the blob`},
		},
		{
			name:    "config without a media type",
			root:    manifest(map[string]any{"schemaVersion": 2, "config": ocispec.Descriptor{Digest: ociCfg.Digest, Size: ociCfg.Size}, "layers": []ocispec.Descriptor{}}),
			wantErr: []string{`config media type "": not an image`},
		},
		{
			name:    "an artifact's config",
			root:    manifest(map[string]any{"schemaVersion": 2, "artifactType": "application/vnd.example", "config": ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: ociCfg.Digest, Size: ociCfg.Size}, "layers": []ocispec.Descriptor{}}),
			wantErr: []string{`config media type "application/vnd.oci.empty.v1+json": not an image`},
		},
		{
			name:    "a layer without a media type",
			root:    manifest(map[string]any{"schemaVersion": 2, "config": ociCfg, "layers": []ocispec.Descriptor{ociLayer, {Digest: ociLayer.Digest, Size: 1}}}),
			wantErr: []string{`layers[1]: media type "" is not an OCI layer type`},
		},
		{name: "manifest not JSON", root: push(t, m, ocispec.MediaTypeImageManifest, []byte("{")), wantErr: []string{"unexpected end of JSON"}},
		{name: "diff_ids count differs from layers", root: config(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`, ociLayer), wantErr: []string{"0 rootfs.diff_ids for 1 layers"}},
		{name: "empty os", root: config(`{"architecture":"amd64","os":"","rootfs":{"type":"layers","diff_ids":[]}}`), wantErr: []string{"os and architecture must be set"}},
		{name: "no architecture", root: config(`{"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), wantErr: []string{"os and architecture must be set"}},
		{name: `"os": 42`, root: config(`{"architecture":"amd64","os":42,"rootfs":{"type":"layers","diff_ids":[]}}`), wantErr: []string{"config sha256:", "cannot unmarshal number"}},
		{name: "config not JSON", root: config(`not json`), wantErr: []string{"config sha256:"}},
		{
			name:    "a layer digest that is not a digest",
			root:    config(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["`+digest.FromString("x").String()+`"]}}`, badLayer),
			wantErr: []string{"layers[0]", "sha256:../../../../etc/passwd"},
		},
		{
			name:    "a diff_id that is not a digest",
			root:    config(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0"]}}`, ociLayer),
			wantErr: []string{"rootfs.diff_ids[0]", "sha256:0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := image.Resolve(context.Background(), noLayerFetches(t, m), tt.root, tt.platform)
			if err == nil {
				t.Fatalf("Resolve = %+v, want an error", img.Manifest.Descriptor)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %q", err, tt.wantIs)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// TestResolveSizeCap: a descriptor larger than blob.MaxMetadataBytes is
// refused before anything is fetched, at every level.
func TestResolveSizeCap(t *testing.T) {
	m := blob.NewMemory()
	img := addImage(t, m, linuxAMD64, 1)
	big := func(d ocispec.Descriptor) ocispec.Descriptor {
		d.Size = blob.MaxMetadataBytes + 1
		return d
	}
	bigConfig := pushJSON(t, m, ocispec.MediaTypeImageManifest, map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": big(img.Config.Descriptor), "layers": img.Layers})
	tests := []struct {
		name   string
		root   ocispec.Descriptor
		banned digest.Digest
	}{
		{"index", big(addIndex(t, m, ocispec.MediaTypeImageIndex, entry(img))), ""},
		{"manifest", big(img.Manifest.Descriptor), ""},
		{"manifest in an index", addIndex(t, m, ocispec.MediaTypeImageIndex, big(entry(img))), img.Manifest.Descriptor.Digest},
		{"config", bigConfig, img.Config.Descriptor.Digest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := blob.FetcherFunc(func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
				if d.Size > blob.MaxMetadataBytes || d.Digest == tt.banned {
					t.Fatalf("fetched %s (%d bytes) despite the size cap", d.Digest, d.Size)
				}
				return m.Fetch(ctx, d)
			})
			_, err := image.Resolve(context.Background(), f, tt.root, &linuxAMD64)
			if !errors.Is(err, blob.ErrTooLarge) {
				t.Fatalf("error %v, want one wrapping blob.ErrTooLarge", err)
			}
		})
	}
}

// TestResolveVerifies: bytes that do not match their descriptor are refused
// even when the Fetcher does not check them.
func TestResolveVerifies(t *testing.T) {
	m := blob.NewMemory()
	img := addImage(t, m, linuxAMD64, 1)
	idx := addIndex(t, m, ocispec.MediaTypeImageIndex, entry(img))
	good := rawFetcher{}
	for _, d := range []ocispec.Descriptor{idx, img.Manifest.Descriptor, img.Config.Descriptor} {
		rc, err := m.Fetch(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		good[d.Digest], _ = io.ReadAll(rc)
	}
	if _, err := image.Resolve(context.Background(), good, idx, nil); err != nil {
		t.Fatalf("the untampered store: %v", err)
	}
	flip := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0x20
		return b
	}
	for _, tt := range []struct {
		name   string
		target digest.Digest
		change func([]byte) []byte
		wantIs error
	}{
		{"index digest", idx.Digest, flip, blob.ErrDigestMismatch},
		{"manifest digest", img.Manifest.Descriptor.Digest, flip, blob.ErrDigestMismatch},
		{"config digest", img.Config.Descriptor.Digest, flip, blob.ErrDigestMismatch},
		{"config one byte short", img.Config.Descriptor.Digest, func(b []byte) []byte { return b[:len(b)-1] }, blob.ErrSizeMismatch},
		{"manifest one byte long", img.Manifest.Descriptor.Digest, func(b []byte) []byte { return append(bytes.Clone(b), ' ') }, blob.ErrSizeMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := rawFetcher{}
			for k, v := range good {
				f[k] = v
			}
			f[tt.target] = tt.change(f[tt.target])
			_, err := image.Resolve(context.Background(), f, idx, nil)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("error %v, want one wrapping %v", err, tt.wantIs)
			}
			var me *blob.MismatchError
			if !errors.As(err, &me) || me.Desc.Digest != tt.target {
				t.Errorf("error %v does not name %s", err, tt.target)
			}
		})
	}
}

// TestSelectManifestAttestations: buildx and Docker Hub images carry
// attestation manifests (platform unknown/unknown) beside the image; with no
// platform asked, a single-platform image is still unambiguous.
func TestSelectManifestAttestations(t *testing.T) {
	amd := platformManifests("linux/amd64")[0]
	att := ocispec.Descriptor{
		MediaType:   ocispec.MediaTypeImageManifest,
		Digest:      digest.FromString("attestation"),
		Size:        1,
		Platform:    &ocispec.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd.Digest.String()},
	}
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{amd, att}}
	got, err := image.SelectManifest(idx, ocispec.Descriptor{Digest: digest.FromString("index")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(amd, got); diff != "" {
		t.Errorf("SelectManifest (-want +got):\n%s", diff)
	}
}
