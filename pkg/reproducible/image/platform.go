package image

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Known GOOS and GOARCH values, as the image-spec's platform.os and
// platform.architecture use them.
var (
	knownOS   = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
	knownArch = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
)

// ParsePlatform parses "os/arch[/variant]", e.g. "linux/amd64",
// "linux/arm64/v8", "linux/arm/v7". Unknown os or arch values are errors.
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant], e.g. linux/amd64", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		if parts[2] == "" {
			return ocispec.Platform{}, fmt.Errorf("platform %q: empty variant", s)
		}
		p.Variant = parts[2]
	}
	if !slices.Contains(knownOS, p.OS) {
		return ocispec.Platform{}, fmt.Errorf("platform %q: unknown os %q (want one of %s)", s, p.OS, strings.Join(knownOS, ", "))
	}
	if !slices.Contains(knownArch, p.Architecture) {
		return ocispec.Platform{}, fmt.Errorf("platform %q: unknown architecture %q (want one of %s)", s, p.Architecture, strings.Join(knownArch, ", "))
	}
	return p, nil
}

// PlatformString formats p as "os/arch[/variant]".
func PlatformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ComparePlatforms is the order of manifests in an index: by os, then
// architecture, variant, os.version and os.features. It is total and
// independent of input order.
func ComparePlatforms(a, b ocispec.Platform) int {
	return cmp.Or(
		cmp.Compare(a.OS, b.OS),
		cmp.Compare(a.Architecture, b.Architecture),
		cmp.Compare(a.Variant, b.Variant),
		cmp.Compare(a.OSVersion, b.OSVersion),
		slices.Compare(a.OSFeatures, b.OSFeatures),
	)
}

// MatchPlatform reports whether have satisfies want: os and architecture
// equal, and the variant equal when want names one. arm64's "v8" variant is
// its default, so "" and "v8" match each other there.
func MatchPlatform(want, have ocispec.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	wv, hv := want.Variant, have.Variant
	if wv == "" {
		return true
	}
	if want.Architecture == "arm64" {
		// Normalize only after the "any variant" case above: a wanted "v8"
		// must still refuse "v9".
		if wv == "v8" {
			wv = ""
		}
		if hv == "v8" {
			hv = ""
		}
	}
	return wv == hv
}
