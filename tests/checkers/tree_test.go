package checkers_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// mkTree builds a made-up tree under dir; mode bits are set with chmod so the
// umask does not matter.
func mkTree(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	file := func(rel, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, rel)
		must(os.WriteFile(p, []byte(content), 0o600))
		must(os.Chmod(p, mode))
	}
	mkdir := func(rel string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, rel)
		must(os.Mkdir(p, 0o700))
		must(os.Chmod(p, mode))
	}
	mkdir("etc", 0o755)
	file("etc/hello", "hello\n", 0o644)
	file("etc/empty", "", 0o600)
	mkdir("bin", 0o750)
	file("bin/tool", "#!/bin/sh\n", 0o755)
	file("bin/su", "suid", 0o755|os.ModeSetuid)
	file("bin/wall", "sgid", 0o755|os.ModeSetgid)
	mkdir("tmp", 0o777|os.ModeSticky)
	must(os.Symlink("../etc/hello", filepath.Join(dir, "bin/rel")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "bin/abs")))
	must(os.Symlink("nowhere", filepath.Join(dir, "bin/dangling")))
	must(os.Symlink("etc", filepath.Join(dir, "etc-link"))) // to a directory: not followed
	must(syscall.Mkfifo(filepath.Join(dir, "tmp/fifo"), 0o600))
	must(os.Chmod(filepath.Join(dir, "tmp/fifo"), 0o640))
}

func TestTree(t *testing.T) {
	dir := t.TempDir()
	mkTree(t, dir)

	want := map[string]checkers.TreeEntry{
		"bin":          checkers.Dir(0o750),
		"bin/abs":      checkers.Symlink("/etc/passwd"),
		"bin/dangling": checkers.Symlink("nowhere"),
		"bin/rel":      checkers.Symlink("../etc/hello"),
		"bin/su":       checkers.File(0o4755, "suid"),
		"bin/tool":     checkers.File(0o755, "#!/bin/sh\n"),
		"bin/wall":     checkers.File(0o2755, "sgid"),
		"etc":          checkers.Dir(0o755),
		"etc-link":     checkers.Symlink("etc"),
		"etc/empty":    checkers.File(0o600, ""),
		"etc/hello":    checkers.File(0o644, "hello\n"),
		"tmp":          checkers.Dir(0o1777),
		"tmp/fifo":     {Type: checkers.TypeOther, Mode: 0o640},
	}
	got := checkers.Tree(t, dir)
	if d := checkers.DiffTrees(want, got); d != "" {
		t.Errorf("Tree(%s) (-want +got):\n%s", dir, d)
	}

	// The digest is the real sha256 of the content (of "hello\n" here).
	if got, want := got["etc/hello"].SHA256, "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"; got != want {
		t.Errorf("etc/hello SHA256 = %s, want %s", got, want)
	}
}

func TestTreeErrors(t *testing.T) {
	dir := t.TempDir()
	mkTree(t, dir)
	for _, root := range []string{
		filepath.Join(dir, "missing"),
		filepath.Join(dir, "etc/hello"), // a file
		filepath.Join(dir, "etc-link"),  // a symlink to a directory: not followed
	} {
		if tree, err := checkers.ReadTree(root); err == nil {
			t.Errorf("ReadTree(%s) = %v, want an error", root, tree)
		}
	}
}

func TestDiffTrees(t *testing.T) {
	want := map[string]checkers.TreeEntry{
		"a":   checkers.Dir(0o755),
		"a/b": checkers.File(0o644, "x"),
		"c":   checkers.Symlink("a"),
	}
	got := map[string]checkers.TreeEntry{
		"a":   checkers.Dir(0o700),
		"a/b": checkers.File(0o644, "x"),
		"d":   checkers.Symlink("a"),
	}
	const wantDiff = "~ a: want dir 0755, got dir 0700\n" +
		"- c: symlink -> a\n" +
		"+ d: symlink -> a\n"
	if d := checkers.DiffTrees(want, got); d != wantDiff {
		t.Errorf("DiffTrees =\n%s\nwant\n%s", d, wantDiff)
	}
	if d := checkers.DiffTrees(want, want); d != "" {
		t.Errorf("DiffTrees(want, want) = %q, want \"\"", d)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[checkers.Mode]string{0: "0000", 0o644: "0644", 0o4755: "4755", 0o1777: "1777"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%#o).String() = %q, want %q", uint32(m), got, want)
		}
	}
}
