package image_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func TestParsePlatform(t *testing.T) {
	tests := []struct {
		in      string
		want    ocispec.Platform
		wantErr string
	}{
		{in: "linux/amd64", want: ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{in: "linux/arm64/v8", want: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{in: "linux/arm/v7", want: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{in: "linux/arm/v6", want: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{in: "windows/amd64", want: ocispec.Platform{OS: "windows", Architecture: "amd64"}},
		{in: "linux/riscv64", want: ocispec.Platform{OS: "linux", Architecture: "riscv64"}},
		{in: "", wantErr: `platform "": want os/arch[/variant]`},
		{in: "linux", wantErr: `platform "linux": want os/arch[/variant]`},
		{in: "linux/", wantErr: `platform "linux/": want os/arch[/variant]`},
		{in: "/amd64", wantErr: `platform "/amd64": want os/arch[/variant]`},
		{in: "linux/arm/v7/x", wantErr: `platform "linux/arm/v7/x": want os/arch[/variant]`},
		{in: "linux/arm/", wantErr: `platform "linux/arm/": empty variant`},
		{in: "Linux/amd64", wantErr: `platform "Linux/amd64": unknown os "Linux"`},
		{in: "linux/x86_64", wantErr: `platform "linux/x86_64": unknown architecture "x86_64"`},
		{in: "linux/aarch64", wantErr: `unknown architecture "aarch64"`},
		{in: "linux amd64", wantErr: `want os/arch[/variant]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := image.ParsePlatform(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePlatform(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParsePlatform(%q) (-want +got):\n%s", tt.in, diff)
			}
			if s := image.PlatformString(got); s != tt.in {
				t.Errorf("PlatformString(ParsePlatform(%q)) = %q", tt.in, s)
			}
		})
	}
}

func TestMatchPlatform(t *testing.T) {
	p := func(s string) ocispec.Platform {
		v, err := image.ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		want, have string
		match      bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/amd64", "linux/arm64", false},
		{"linux/amd64", "windows/amd64", false},
		// arm64's v8 is its default variant: "" and "v8" match each other.
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm64/v8", "linux/arm64/v8", true},
		{"linux/arm64", "linux/arm64", true},
		{"linux/arm64/v8", "linux/arm64/v9", false},
		// Elsewhere, a wanted variant must be present; no wanted variant
		// matches any.
		{"linux/arm/v7", "linux/arm/v7", true},
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/arm/v7", "linux/arm", false},
		{"linux/arm", "linux/arm/v7", true},
		{"linux/amd64/v3", "linux/amd64", false},
	}
	for _, tt := range tests {
		if got := image.MatchPlatform(p(tt.want), p(tt.have)); got != tt.match {
			t.Errorf("MatchPlatform(want %s, have %s) = %v, want %v", tt.want, tt.have, got, tt.match)
		}
	}
}

func TestComparePlatforms(t *testing.T) {
	a := ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.1", OSFeatures: []string{"a"}}
	tests := []struct {
		a, b ocispec.Platform
		want int
	}{
		{linuxAMD64, linuxAMD64, 0},
		{a, a, 0},
		{ocispec.Platform{OS: "linux", Architecture: "arm64"}, linuxAMD64, 1},
		{ocispec.Platform{OS: "darwin", Architecture: "arm64"}, linuxAMD64, -1},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, -1},
		{ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.2"}, a, 1},
		{ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.1"}, a, -1},
		{ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.1", OSFeatures: []string{"b"}}, a, 1},
	}
	for _, tt := range tests {
		if got := image.ComparePlatforms(tt.a, tt.b); got != tt.want {
			t.Errorf("ComparePlatforms(%+v, %+v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := image.ComparePlatforms(tt.b, tt.a); got != -tt.want {
			t.Errorf("ComparePlatforms(%+v, %+v) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}
