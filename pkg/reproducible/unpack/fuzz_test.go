package unpack_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// FuzzApply applies two arbitrary layers and checks that nothing outside
// the root changed, whatever the layers hold and whether or not they are
// accepted. The seeds are escape attempts from TestBreakouts.
func FuzzApply(f *testing.F) {
	seeds := [][2][]te{
		{{symlink("a", "/"), file("a/etc/passwd", "x", 0o644)}, {whiteout("a/.wh.etc")}},
		{{symlink("b", ".."), file("b/evil", "x", 0o644)}, {hardlink("h", "b/evil")}},
		{{symlink("c", "../canary")}, {file("c/file", "pwned", 0o644), whiteout("c/.wh..wh..opq")}},
		{{dir("d", 0o755), file("d/x", "x", 0o644)}, {file("d", "f", 0o644), whiteout(".wh.d")}},
		{{file("../evil", "x", 0o644)}, {whiteout(".wh..")}},
	}
	for _, s := range seeds {
		f.Add(tarOf(f, s[0]...), tarOf(f, s[1]...))
	}
	f.Fuzz(func(t *testing.T, l1, l2 []byte) {
		top := t.TempDir()
		root := mustMkdir(t, filepath.Join(top, "root"))
		canary := mustMkdir(t, filepath.Join(top, "canary"))
		if err := os.WriteFile(filepath.Join(canary, "file"), []byte("canary"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Accepted or not, only the outside matters here.
		_, _ = unpack.Apply(context.Background(), root, unpack.Options{OwnerAccess: true, SkipDevices: true}, bytes.NewReader(l1), bytes.NewReader(l2))
		got := checkers.Tree(t, top)
		for p := range got {
			if p == "root" || strings.HasPrefix(p, "root/") {
				delete(got, p)
			}
		}
		want := map[string]checkers.TreeEntry{"canary": checkers.Dir(0o755), "canary/file": checkers.File(0o644, "canary")}
		if d := checkers.DiffTrees(want, got); d != "" {
			t.Fatalf("outside the root (-want +got):\n%s", d)
		}
	})
}
