package reproducible_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestPendingFile(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	out := filepath.Join(dir, "blob")

	p, err := reproducible.CreatePending(out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	if _, err := p.WriteString("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the output exists before Commit: %v", err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"blob"}, listDir(t, dir)); diff != "" {
		t.Errorf("directory after Commit (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v under umask 077, want 0644", fi.Mode().Perm())
	}
	if err := p.Commit(); err == nil {
		t.Error("a second Commit succeeded")
	}
	p.Abort() // after Commit: does nothing
	if _, err := os.Stat(out); err != nil {
		t.Errorf("Abort after Commit removed the output: %v", err)
	}
}

func TestPendingFileAbort(t *testing.T) {
	dir := t.TempDir()
	p, err := reproducible.CreatePending(filepath.Join(dir, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	p.WriteString("partial")
	p.Abort()
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("files left after Abort: %q", got)
	}
	if err := p.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "meta.json")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := reproducible.WriteFileAtomic(out, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "new" {
		t.Errorf("content %q, want %q", b, "new")
	}
	if diff := cmp.Diff([]string{"meta.json"}, listDir(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
	// A directory that does not exist: an error, nothing created.
	if err := reproducible.WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("WriteFileAtomic into a missing directory succeeded")
	}
	// Renaming over a directory fails: the temporary file is removed.
	if err := os.Mkdir(filepath.Join(dir, "isdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := reproducible.WriteFileAtomic(filepath.Join(dir, "isdir"), []byte("x")); err == nil {
		t.Error("WriteFileAtomic over a directory succeeded")
	}
	if diff := cmp.Diff([]string{"isdir", "meta.json"}, listDir(t, dir)); diff != "" {
		t.Errorf("directory after a failed write (-want +got):\n%s", diff)
	}
}
