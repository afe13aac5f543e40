package reproducible_test

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// FuzzCleanPath checks the invariants every cleaned path has: relative,
// canonical, valid UTF-8, inside the root, and a fixed point of both
// cleaners. CleanMemberPath accepts a subset of what CleanPath accepts and
// agrees with it there.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"usr/bin/app", "/usr/bin/app", "./a/", "a//b", "a/../b", "../x", "a/../../x", "/../x",
		"", ".", "/", "..", "a/..", ".wh.x", "a\x00b", "caf\xe9", "日本語/ünï", strings.Repeat("a/", 80),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := reproducible.CleanPath(p)
		m, merr := reproducible.CleanMemberPath(p)
		if merr == nil && (err != nil || m != c) {
			t.Fatalf("CleanMemberPath(%q) = %q but CleanPath = %q, %v", p, m, c, err)
		}
		if err != nil {
			if c != "" {
				t.Fatalf("CleanPath(%q) returned %q with error %v", p, c, err)
			}
			return
		}
		if c == "" || strings.HasPrefix(c, "/") || strings.HasSuffix(c, "/") {
			t.Fatalf("CleanPath(%q) = %q: empty, absolute or trailing slash", p, c)
		}
		if !utf8.ValidString(c) || strings.IndexByte(c, 0) >= 0 {
			t.Fatalf("CleanPath(%q) = %q: invalid UTF-8 or NUL", p, c)
		}
		for _, elem := range strings.Split(c, "/") {
			if elem == "" || elem == "." || elem == ".." {
				t.Fatalf("CleanPath(%q) = %q: element %q", p, c, elem)
			}
		}
		if want := strings.TrimPrefix(path.Clean("/"+p), "/"); c != want {
			t.Fatalf("CleanPath(%q) = %q, path.Clean gives %q", p, c, want)
		}
		if j := path.Join("/root", c); !strings.HasPrefix(j, "/root/") {
			t.Fatalf("CleanPath(%q) = %q escapes: %q", p, c, j)
		}
		// Climbing is refused even when path.Clean would clamp it: no
		// prefix of the input may go above the root.
		depth := 0
		for _, elem := range strings.Split(p, "/") {
			switch elem {
			case "", ".":
			case "..":
				depth--
			default:
				depth++
			}
			if depth < 0 {
				t.Fatalf("CleanPath(%q) = %q, but the path climbs above the root", p, c)
			}
		}
		for _, fn := range []func(string) (string, error){reproducible.CleanPath, reproducible.CleanMemberPath} {
			if again, err := fn(c); err != nil || again != c {
				t.Fatalf("cleaning %q again gives %q, %v", c, again, err)
			}
		}
	})
}
