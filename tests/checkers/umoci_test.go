package checkers_test

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

func TestUmociUnpack(t *testing.T) {
	layout := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, layout, "v1", []member{
		{name: "etc/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "etc/hello", typeflag: tar.TypeReg, mode: 0o644, content: "hello\n"},
		{name: "opt/", typeflag: tar.TypeDir, mode: 0o555},
		{name: "opt/tool", typeflag: tar.TypeReg, mode: 0o4755, content: "tool"},
		{name: "opt/link", typeflag: tar.TypeSymlink, content: "../etc/hello"},
	})

	rootfs := checkers.UmociUnpack(t, layout, "v1")
	want := map[string]checkers.TreeEntry{
		"etc":       checkers.Dir(0o755),
		"etc/hello": checkers.File(0o644, "hello\n"),
		"opt":       checkers.Dir(0o555),
		"opt/tool":  checkers.File(0o4755, "tool"),
		"opt/link":  checkers.Symlink("../etc/hello"),
	}
	if d := checkers.DiffTrees(want, checkers.Tree(t, rootfs)); d != "" {
		t.Errorf("unpacked rootfs (-want +got):\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(rootfs), "config.json")); err != nil {
		t.Errorf("bundle has no config.json: %v", err)
	}

	// A tag the layout does not have is an error, not a failure of the test.
	_, out, err := checkers.UmociUnpackErr(t, layout, "missing")
	if err == nil {
		t.Fatalf("umoci unpack of a missing tag succeeded; output:\n%s", out)
	}
	if !strings.Contains(err.Error(), "umoci unpack") {
		t.Errorf("error %q does not name the command", err)
	}
}
