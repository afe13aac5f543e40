package image_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

func ptr[T any](v T) *T { return &v }

var (
	linuxAMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	diffA      = digest.FromString("a")
	diffB      = digest.FromString("b")
	diffC      = digest.FromString("c")
)

// baseConfig is a base image's config as Resolve returns it: every field of
// the runtime config set, one layer with its history.
func baseConfig() *image.ConfigFile {
	created := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	return &image.ConfigFile{
		Created:  &created,
		Author:   "base author",
		Platform: linuxAMD64,
		Config: image.ImageConfig{ImageConfig: ocispec.ImageConfig{
			User:         "nobody",
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
			Env:          []string{"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C"},
			Entrypoint:   []string{"/base-entrypoint"},
			Cmd:          []string{"base-cmd"},
			Volumes:      map[string]struct{}{"/data": {}},
			WorkingDir:   "/base",
			Labels:       map[string]string{"a": "base", "b": "base"},
			StopSignal:   "SIGTERM",
		}},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffA}},
		History: []ocispec.History{{Created: &created, CreatedBy: "ADD rootfs.tar /"}},
	}
}

// TestNewConfigInheritance checks Dockerfile semantics of Overrides over a
// base config: each case gives the overrides and the runtime config expected.
func TestNewConfigInheritance(t *testing.T) {
	base := baseConfig().Config.ImageConfig
	with := func(f func(c *ocispec.ImageConfig)) image.ImageConfig {
		c := baseConfig().Config.ImageConfig
		f(&c)
		return image.ImageConfig{ImageConfig: c}
	}
	tests := []struct {
		name string
		in   image.Overrides
		want image.ImageConfig
	}{
		{
			name: "nothing set inherits everything",
			want: image.ImageConfig{ImageConfig: base},
		},
		{
			name: "Env merged by key in place, new keys appended in order",
			in:   image.Overrides{Env: []string{"HOME=/home/app", "NEW=1", "PATH=/app/bin", "EQ=a=b"}},
			want: with(func(c *ocispec.ImageConfig) {
				c.Env = []string{"PATH=/app/bin", "HOME=/home/app", "LANG=C", "NEW=1", "EQ=a=b"}
			}),
		},
		{
			name: "Env set twice: the last value wins, in the first place",
			in:   image.Overrides{Env: []string{"X=1", "LANG=en", "X=2"}},
			want: with(func(c *ocispec.ImageConfig) {
				c.Env = []string{"PATH=/usr/bin:/bin", "HOME=/root", "LANG=en", "X=2"}
			}),
		},
		{
			name: "Env with an empty value",
			in:   image.Overrides{Env: []string{"HOME="}},
			want: with(func(c *ocispec.ImageConfig) { c.Env = []string{"PATH=/usr/bin:/bin", "HOME=", "LANG=C"} }),
		},
		{
			name: "Labels merged",
			in:   image.Overrides{Labels: map[string]string{"b": "image", "c": "image"}},
			want: with(func(c *ocispec.ImageConfig) { c.Labels = map[string]string{"a": "base", "b": "image", "c": "image"} }),
		},
		{
			name: "new Entrypoint resets the inherited Cmd",
			in:   image.Overrides{Entrypoint: []string{"/app"}},
			want: with(func(c *ocispec.ImageConfig) { c.Entrypoint, c.Cmd = []string{"/app"}, nil }),
		},
		{
			name: "new Entrypoint and Cmd together",
			in:   image.Overrides{Entrypoint: []string{"/app"}, Cmd: []string{"--flag"}},
			want: with(func(c *ocispec.ImageConfig) { c.Entrypoint, c.Cmd = []string{"/app"}, []string{"--flag"} }),
		},
		{
			name: "Cmd alone keeps the Entrypoint",
			in:   image.Overrides{Cmd: []string{"other"}},
			want: with(func(c *ocispec.ImageConfig) { c.Cmd = []string{"other"} }),
		},
		{
			name: "empty Entrypoint clears it and the inherited Cmd",
			in:   image.Overrides{Entrypoint: []string{}},
			want: with(func(c *ocispec.ImageConfig) { c.Entrypoint, c.Cmd = nil, nil }),
		},
		{
			name: "empty Entrypoint with a Cmd",
			in:   image.Overrides{Entrypoint: []string{}, Cmd: []string{"/bin/sh"}},
			want: with(func(c *ocispec.ImageConfig) { c.Entrypoint, c.Cmd = nil, []string{"/bin/sh"} }),
		},
		{
			name: "empty Cmd clears only Cmd",
			in:   image.Overrides{Cmd: []string{}},
			want: with(func(c *ocispec.ImageConfig) { c.Cmd = nil }),
		},
		{
			name: "ExposedPorts unioned and normalized",
			in:   image.Overrides{ExposedPorts: []string{"443", "53/udp", "80/tcp", "80"}},
			want: with(func(c *ocispec.ImageConfig) {
				c.ExposedPorts = map[string]struct{}{"80/tcp": {}, "443/tcp": {}, "53/udp": {}}
			}),
		},
		{
			name: "Volumes unioned",
			in:   image.Overrides{Volumes: []string{"/cache", "/data"}},
			want: with(func(c *ocispec.ImageConfig) { c.Volumes = map[string]struct{}{"/data": {}, "/cache": {}} }),
		},
		{
			name: "User, WorkingDir and StopSignal replaced",
			in:   image.Overrides{User: ptr("65532:65532"), WorkingDir: ptr("/app"), StopSignal: ptr("SIGINT")},
			want: with(func(c *ocispec.ImageConfig) { c.User, c.WorkingDir, c.StopSignal = "65532:65532", "/app", "SIGINT" }),
		},
		{
			name: "User, WorkingDir and StopSignal cleared by empty strings",
			in:   image.Overrides{User: ptr(""), WorkingDir: ptr(""), StopSignal: ptr("")},
			want: with(func(c *ocispec.ImageConfig) { c.User, c.WorkingDir, c.StopSignal = "", "", "" }),
		},
		{
			name: "Docker extensions",
			in: image.Overrides{
				Healthcheck: &image.HealthConfig{Test: []string{"CMD", "true"}, Interval: 30 * time.Second, Retries: 3},
				Shell:       []string{"/bin/bash", "-c"},
				OnBuild:     []string{"RUN true"},
			},
			want: image.ImageConfig{
				ImageConfig: base,
				Healthcheck: &image.HealthConfig{Test: []string{"CMD", "true"}, Interval: 30 * time.Second, Retries: 3},
				Shell:       []string{"/bin/bash", "-c"},
				OnBuild:     []string{"RUN true"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := baseConfig()
			cf, blob, err := image.NewConfig(image.ConfigOptions{Base: b, Platform: linuxAMD64, Overrides: tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cf.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			// The bytes say the same as the struct.
			var back image.ConfigFile
			if err := json.Unmarshal(blob.Data, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(cf, back); diff != "" {
				t.Errorf("decoded blob differs from the returned config (-returned +decoded):\n%s", diff)
			}
			// The base is not modified.
			if diff := cmp.Diff(baseConfig(), b); diff != "" {
				t.Errorf("NewConfig modified its base (-before +after):\n%s", diff)
			}
			if cf.Author != "base author" {
				t.Errorf("author = %q, want the base's", cf.Author)
			}
		})
	}
}

// TestNewConfigHistory checks that non-empty history entries pair one to one
// with diff_ids whatever the base's history looks like.
func TestNewConfigHistory(t *testing.T) {
	epoch := reproducible.Epoch
	withHistory := func(h ...ocispec.History) *image.ConfigFile {
		b := baseConfig()
		b.RootFS.DiffIDs = []digest.Digest{diffA, diffB}
		b.History = h
		return b
	}
	type entry struct {
		CreatedBy string
		Empty     bool
	}
	tests := []struct {
		name        string
		base        *image.ConfigFile
		layers      []image.LayerHistory
		emptyBy     string
		wantDiffIDs []digest.Digest
		want        []entry
	}{
		{
			name:        "scratch, one entry per layer",
			layers:      []image.LayerHistory{{DiffID: diffA, CreatedBy: "layer a"}, {DiffID: diffB, CreatedBy: "layer b", Comment: "b"}},
			emptyBy:     "config",
			wantDiffIDs: []digest.Digest{diffA, diffB},
			want:        []entry{{"layer a", false}, {"layer b", false}},
		},
		{
			name:        "scratch, no layer: one empty_layer entry",
			emptyBy:     "config",
			wantDiffIDs: []digest.Digest{},
			want:        []entry{{"config", true}},
		},
		{
			name:        "scratch, no layer, no empty_layer text: no history",
			wantDiffIDs: []digest.Digest{},
			want:        nil,
		},
		{
			name:        "base history with empty_layer entries is kept",
			base:        withHistory(ocispec.History{CreatedBy: "ADD a"}, ocispec.History{CreatedBy: "ENV x", EmptyLayer: true}, ocispec.History{CreatedBy: "ADD b"}),
			layers:      []image.LayerHistory{{DiffID: diffC, CreatedBy: "layer c"}},
			wantDiffIDs: []digest.Digest{diffA, diffB, diffC},
			want:        []entry{{"ADD a", false}, {"ENV x", true}, {"ADD b", false}, {"layer c", false}},
		},
		{
			name:        "base without history gets placeholders",
			base:        withHistory(),
			layers:      []image.LayerHistory{{DiffID: diffC, CreatedBy: "layer c"}},
			wantDiffIDs: []digest.Digest{diffA, diffB, diffC},
			want:        []entry{{"base layer (no history)", false}, {"base layer (no history)", false}, {"layer c", false}},
		},
		{
			name:        "base with too few entries gets a placeholder",
			base:        withHistory(ocispec.History{CreatedBy: "ADD a"}, ocispec.History{CreatedBy: "CMD", EmptyLayer: true}),
			emptyBy:     "config",
			wantDiffIDs: []digest.Digest{diffA, diffB},
			want:        []entry{{"ADD a", false}, {"CMD", true}, {"base layer (no history)", false}, {"config", true}},
		},
		{
			name:        "base with too many entries loses the surplus",
			base:        withHistory(ocispec.History{CreatedBy: "ADD a"}, ocispec.History{CreatedBy: "ADD b"}, ocispec.History{CreatedBy: "ENV", EmptyLayer: true}, ocispec.History{CreatedBy: "ADD extra"}),
			layers:      []image.LayerHistory{{DiffID: diffC, CreatedBy: "layer c"}},
			wantDiffIDs: []digest.Digest{diffA, diffB, diffC},
			want:        []entry{{"ADD a", false}, {"ADD b", false}, {"ENV", true}, {"layer c", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf, blob, err := image.NewConfig(image.ConfigOptions{Base: tt.base, Platform: linuxAMD64, Layers: tt.layers, EmptyLayerCreatedBy: tt.emptyBy})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantDiffIDs, cf.RootFS.DiffIDs); diff != "" {
				t.Errorf("diff_ids (-want +got):\n%s", diff)
			}
			var got []entry
			nonEmpty := 0
			for _, h := range cf.History {
				got = append(got, entry{h.CreatedBy, h.EmptyLayer})
				if !h.EmptyLayer {
					nonEmpty++
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
			if nonEmpty != len(cf.RootFS.DiffIDs) {
				t.Errorf("%d non-empty history entries for %d diff_ids", nonEmpty, len(cf.RootFS.DiffIDs))
			}
			// New entries carry the image's created time.
			for _, h := range cf.History[len(cf.History)-len(tt.layers):] {
				if h.Created == nil || !h.Created.Equal(epoch) {
					t.Errorf("history %q: created %v, want the epoch", h.CreatedBy, h.Created)
				}
			}
			if !strings.Contains(string(blob.Data), `"rootfs":{"type":"layers","diff_ids":[`) {
				t.Errorf("rootfs not written with a diff_ids array: %s", blob.Data)
			}
		})
	}
}

func TestNewConfigCreated(t *testing.T) {
	zone := time.FixedZone("X", 3*3600)
	tests := []struct {
		name    string
		created *time.Time
		want    string
	}{
		{"default is the epoch", nil, `"created":"1970-01-01T00:00:00Z"`},
		{"explicit, UTC", ptr(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)), `"created":"2024-01-02T03:04:05Z"`},
		{"explicit, another zone and fractions: UTC whole seconds", ptr(time.Date(2024, 1, 2, 6, 4, 5, 999_999_999, zone)), `"created":"2024-01-02T03:04:05Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, blob, err := image.NewConfig(image.ConfigOptions{Platform: linuxAMD64, Created: tt.created, Layers: []image.LayerHistory{{DiffID: diffA}}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(blob.Data), "{"+tt.want+",") {
				t.Errorf("config %s does not start with %s", blob.Data, tt.want)
			}
			if n := strings.Count(string(blob.Data), tt.want); n != 2 {
				t.Errorf("%s appears %d times in %s, want twice (config and its layer's history)", tt.want, n, blob.Data)
			}
		})
	}
}

func TestNewConfigPlatform(t *testing.T) {
	tests := []struct {
		name     string
		platform ocispec.Platform
		want     string
	}{
		{"os and architecture", linuxAMD64, `"architecture":"amd64","os":"linux","config":`},
		{"variant", ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, `"architecture":"arm","os":"linux","variant":"v7","config":`},
		{
			"os.version and os.features",
			ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1234", OSFeatures: []string{"win32k"}},
			`"architecture":"amd64","os":"windows","os.version":"10.0.17763.1234","os.features":["win32k"],"config":`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The base's platform is replaced, not merged.
			b := baseConfig()
			b.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v3", OSVersion: "old"}
			cf, blob, err := image.NewConfig(image.ConfigOptions{Base: b, Platform: tt.platform})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(blob.Data), tt.want) {
				t.Errorf("config %s does not contain %s", blob.Data, tt.want)
			}
			if diff := cmp.Diff(tt.platform, cf.Platform); diff != "" {
				t.Errorf("platform (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewConfigDockerExtensionsOnlyWhenSet(t *testing.T) {
	_, plain, err := image.NewConfig(image.ConfigOptions{Platform: linuxAMD64, Overrides: image.Overrides{Cmd: []string{"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"Healthcheck", "Shell", "OnBuild", "ArgsEscaped", "author", "history"} {
		if strings.Contains(string(plain.Data), `"`+field+`"`) {
			t.Errorf("%s written though unset: %s", field, plain.Data)
		}
	}
	_, set, err := image.NewConfig(image.ConfigOptions{Platform: linuxAMD64, Overrides: image.Overrides{
		Healthcheck: &image.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: time.Minute, Timeout: 5 * time.Second, StartPeriod: time.Second, StartInterval: 2 * time.Second, Retries: 2},
		Shell:       []string{"/bin/sh", "-c"},
		OnBuild:     []string{"ADD . /src"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := `"config":{"Healthcheck":{"Test":["CMD-SHELL","curl -f localhost"],"Interval":60000000000,"Timeout":5000000000,"StartPeriod":1000000000,"StartInterval":2000000000,"Retries":2},"Shell":["/bin/sh","-c"],"OnBuild":["ADD . /src"]}`
	if !strings.Contains(string(set.Data), want) {
		t.Errorf("config %s\ndoes not contain %s", set.Data, want)
	}
}

// goldenConfigOptions sets every field NewConfig writes.
func goldenConfigOptions() image.ConfigOptions {
	return image.ConfigOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		Created:  ptr(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
		Author:   "Jane Doe <jane@example.com>",
		Overrides: image.Overrides{
			User:         ptr("65532:65532"),
			Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HTML=<&>"},
			Entrypoint:   []string{"/usr/bin/app"},
			Cmd:          []string{"--serve"},
			WorkingDir:   ptr("/srv"),
			Labels:       map[string]string{"org.opencontainers.image.source": "https://example.com/app", "a": "1", "z": "26"},
			ExposedPorts: []string{"8080", "53/udp", "443/tcp"},
			Volumes:      []string{"/var/lib/app", "/cache"},
			StopSignal:   ptr("SIGQUIT"),
			Healthcheck:  &image.HealthConfig{Test: []string{"CMD", "/usr/bin/app", "-health"}, Interval: 30 * time.Second, Retries: 3},
			Shell:        []string{"/bin/sh", "-c"},
			OnBuild:      []string{"RUN echo hi"},
		},
		Layers: []image.LayerHistory{
			{DiffID: diffA, CreatedBy: "imagewriter layer base"},
			{DiffID: diffB, CreatedBy: "imagewriter layer app", Comment: "the binary"},
		},
	}
}

// TestConfigGolden pins the exact bytes of a config that sets every field,
// and the ImageID derived from them.
func TestConfigGolden(t *testing.T) {
	_, blob, err := image.NewConfig(goldenConfigOptions())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "config.txt", fmt.Appendf(nil, "%s\n%s\n", blob.Descriptor.Digest, blob.Data))
	// Built twice, the same bytes.
	_, again, err := image.NewConfig(goldenConfigOptions())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(blob, again); diff != "" {
		t.Errorf("second NewConfig differs (-first +second):\n%s", diff)
	}
}

// TestImageID: the ImageID is the sha256 of the config bytes, and the
// descriptor describes those bytes exactly.
func TestImageID(t *testing.T) {
	_, blob, err := image.NewConfig(goldenConfigOptions())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(blob.Data)
	want := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageConfig,
		Digest:    digest.Digest("sha256:" + hex.EncodeToString(sum[:])),
		Size:      int64(len(blob.Data)),
	}
	if diff := cmp.Diff(want, blob.Descriptor); diff != "" {
		t.Errorf("config descriptor (-want +got):\n%s", diff)
	}
	if len(blob.Data) == 0 || blob.Data[len(blob.Data)-1] != '}' {
		t.Errorf("config bytes end in %q: want compact JSON with no trailing newline", blob.Data[len(blob.Data)-1:])
	}
}

// TestChainIDs checks ChainIDs against the image-spec's definition, with
// the values computed outside Go:
//
//	a=sha256:$(printf a | sha256sum | cut -d' ' -f1)   # and b, c alike
//	c2=sha256:$(printf '%s %s' $a $b | sha256sum | cut -d' ' -f1)
//	c3=sha256:$(printf '%s %s' $c2 $c | sha256sum | cut -d' ' -f1)
func TestChainIDs(t *testing.T) {
	const (
		a  = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
		b  = "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
		c  = "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
		c2 = "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676"
		c3 = "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106"
	)
	tests := []struct {
		in, want []digest.Digest
	}{
		{in: nil, want: []digest.Digest{}},
		{in: []digest.Digest{a}, want: []digest.Digest{a}},
		{in: []digest.Digest{a, b}, want: []digest.Digest{a, c2}},
		{in: []digest.Digest{a, b, c}, want: []digest.Digest{a, c2, c3}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, image.ChainIDs(tt.in)); diff != "" {
			t.Errorf("ChainIDs(%v) (-want +got):\n%s", tt.in, diff)
		}
	}
	if diffA != a || diffB != b || diffC != c {
		t.Fatalf("test digests moved")
	}
}

func TestNewConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    image.ConfigOptions
		wantErr string
	}{
		{"env without =", image.ConfigOptions{Overrides: image.Overrides{Env: []string{"A=1", "B"}}}, `config.Env[1]: "B": want KEY=VALUE`},
		{"env with an empty key", image.ConfigOptions{Overrides: image.Overrides{Env: []string{"=x"}}}, `config.Env[0]: "=x"`},
		{"port name", image.ConfigOptions{Overrides: image.Overrides{ExposedPorts: []string{"http"}}}, `config.ExposedPorts[0]: port "http"`},
		{"port protocol", image.ConfigOptions{Overrides: image.Overrides{ExposedPorts: []string{"80", "80/sctp"}}}, `config.ExposedPorts[1]: port "80/sctp"`},
		{"port zero", image.ConfigOptions{Overrides: image.Overrides{ExposedPorts: []string{"0"}}}, `config.ExposedPorts[0]: port "0"`},
		{"port too big", image.ConfigOptions{Overrides: image.Overrides{ExposedPorts: []string{"65536/tcp"}}}, `config.ExposedPorts[0]: port "65536/tcp"`},
		{"relative volume", image.ConfigOptions{Overrides: image.Overrides{Volumes: []string{"/ok", "data"}}}, `config.Volumes[1]: "data": want an absolute path`},
		{"no os", image.ConfigOptions{Platform: ocispec.Platform{Architecture: "amd64"}}, "platform: os and architecture are required"},
		{"no architecture", image.ConfigOptions{Platform: ocispec.Platform{OS: "linux"}}, "platform: os and architecture are required"},
		{"bad diff_id", image.ConfigOptions{Layers: []image.LayerHistory{{DiffID: "sha256:nothex"}}}, `layer diff_id "sha256:nothex"`},
		{"base rootfs type", image.ConfigOptions{Base: &image.ConfigFile{RootFS: ocispec.RootFS{Type: "zfs"}}}, `base config: rootfs.type "zfs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Platform.OS == "" && tt.opts.Platform.Architecture == "" {
				tt.opts.Platform = linuxAMD64
			}
			_, _, err := image.NewConfig(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewConfig error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNormalizePort(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"80", "80/tcp"},
		{"80/tcp", "80/tcp"},
		{"53/udp", "53/udp"},
		{"1", "1/tcp"},
		{"65535/udp", "65535/udp"},
		{"", ""},
		{"0", ""},
		{"65536", ""},
		{"080", ""},
		{"+80", ""},
		{"-1", ""},
		{"80/", ""},
		{"/tcp", ""},
		{"80/TCP", ""},
		{"80/sctp", ""},
		{"80/tcp/udp", ""},
		{"8080-8081", ""},
		{" 80", ""},
	}
	for _, tt := range tests {
		got, err := image.NormalizePort(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizePort(%q) = %q, want an error", tt.in, got)
			} else if !strings.Contains(err.Error(), fmt.Sprintf("port %q", tt.in)) {
				t.Errorf("NormalizePort(%q) error %q does not name the port", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizePort(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
