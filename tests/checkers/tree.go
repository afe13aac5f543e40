package checkers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// EntryType is the kind of a file system entry as Tree reports it.
type EntryType string

// The entry types Tree reports. Devices, FIFOs and sockets are all TypeOther.
const (
	TypeFile    EntryType = "file"
	TypeDir     EntryType = "dir"
	TypeSymlink EntryType = "symlink"
	TypeOther   EntryType = "other"
)

// Mode holds Unix permission bits as a tar header or chmod(1) writes them:
// 0o777 plus setuid 0o4000, setgid 0o2000 and sticky 0o1000.
type Mode uint32

// String formats m in octal, as in "0755" or "4755".
func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// TreeEntry describes one path of a directory tree.
type TreeEntry struct {
	Type EntryType
	// Mode is the permission bits (& 0o7777). It is 0 for symlinks, whose
	// permissions Linux ignores.
	Mode Mode
	// Target is a symlink's target, exactly as stored; "" for other types.
	Target string
	// SHA256 is "sha256:" and the hex digest of a regular file's content;
	// "" for other types.
	SHA256 string
}

// String formats e compactly, as in "file 0644 sha256:ab…" or "symlink -> x".
func (e TreeEntry) String() string {
	switch e.Type {
	case TypeSymlink:
		return fmt.Sprintf("symlink -> %s", e.Target)
	case TypeFile:
		return fmt.Sprintf("file %s %s", e.Mode, e.SHA256)
	default:
		return fmt.Sprintf("%s %s", e.Type, e.Mode)
	}
}

// File returns the TreeEntry of a regular file with mode and content, for
// writing expectations.
func File(mode Mode, content string) TreeEntry {
	sum := sha256.Sum256([]byte(content))
	return TreeEntry{Type: TypeFile, Mode: mode, SHA256: "sha256:" + hex.EncodeToString(sum[:])}
}

// Dir returns the TreeEntry of a directory with mode.
func Dir(mode Mode) TreeEntry { return TreeEntry{Type: TypeDir, Mode: mode} }

// Symlink returns the TreeEntry of a symlink to target.
func Symlink(target string) TreeEntry { return TreeEntry{Type: TypeSymlink, Target: target} }

// Tree describes every path under root (root itself excluded), keyed by the
// slash-separated path relative to root, such as "etc/passwd". It never
// follows symlinks, root included: root must be a directory. Owners and
// times are not recorded (rootless unpacking does not keep owners).
func Tree(t testing.TB, root string) map[string]TreeEntry {
	t.Helper()
	tree, err := ReadTree(root)
	if err != nil {
		t.Fatalf("checkers.Tree: %v", err)
	}
	return tree
}

// ReadTree is Tree returning its error.
func ReadTree(root string) (map[string]TreeEntry, error) {
	fi, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", root)
	}
	tree := map[string]TreeEntry{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		e, err := entryOf(path, info)
		if err != nil {
			return err
		}
		tree[rel] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", root, err)
	}
	return tree, nil
}

// entryOf describes the entry at path, whose Lstat result is info.
func entryOf(path string, info fs.FileInfo) (TreeEntry, error) {
	m := info.Mode()
	switch {
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return TreeEntry{}, err
		}
		return Symlink(target), nil
	case m.IsDir():
		return Dir(unixMode(m)), nil
	case m.IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return TreeEntry{}, err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return TreeEntry{}, fmt.Errorf("%s: %w", path, err)
		}
		return TreeEntry{Type: TypeFile, Mode: unixMode(m), SHA256: "sha256:" + hex.EncodeToString(h.Sum(nil))}, nil
	default:
		return TreeEntry{Type: TypeOther, Mode: unixMode(m)}, nil
	}
}

// unixMode converts Go's mode bits to Unix permission bits.
func unixMode(m fs.FileMode) Mode {
	u := Mode(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// DiffTrees describes how got differs from want, one path per line in path
// order ("-" only in want, "+" only in got, "~" different), or returns "" when
// they are equal. Fail with it as t.Errorf("rootfs (-want +got):\n%s", d).
func DiffTrees(want, got map[string]TreeEntry) string {
	paths := make([]string, 0, len(want)+len(got))
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var b strings.Builder
	for _, p := range paths {
		w, inWant := want[p]
		g, inGot := got[p]
		switch {
		case !inGot:
			fmt.Fprintf(&b, "- %s: %s\n", p, w)
		case !inWant:
			fmt.Fprintf(&b, "+ %s: %s\n", p, g)
		case w != g:
			fmt.Fprintf(&b, "~ %s: want %s, got %s\n", p, w, g)
		}
	}
	return b.String()
}
