package unpack_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

func applyTars(t *testing.T, opts unpack.Options, layers ...[]te) (string, unpack.Result) {
	t.Helper()
	root := mustMkdir(t, filepath.Join(t.TempDir(), "root"))
	var streams []io.Reader
	for _, l := range layers {
		streams = append(streams, bytes.NewReader(tarOf(t, l...)))
	}
	res, err := unpack.Apply(context.Background(), root, opts, streams...)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return root, res
}

// TestChangesets checks the image-spec's changeset rules, each case on its
// own: whiteouts and opaque markers hide lower layers only, replacements
// remove what they replace.
func TestChangesets(t *testing.T) {
	F := func(body string) checkers.TreeEntry { return checkers.File(0o644, body) }
	D := checkers.Dir(0o755)
	tests := []struct {
		name   string
		layers [][]te
		want   map[string]checkers.TreeEntry
	}{
		{
			name:   "whiteout a file",
			layers: [][]te{{dir("d", 0o755), file("d/a", "a", 0o644), file("d/b", "b", 0o644)}, {whiteout("d/.wh.a")}},
			want:   map[string]checkers.TreeEntry{"d": D, "d/b": F("b")},
		},
		{
			name:   "whiteout a directory",
			layers: [][]te{{dir("d", 0o755), dir("d/e", 0o755), file("d/e/a", "a", 0o644)}, {whiteout("d/.wh.e")}},
			want:   map[string]checkers.TreeEntry{"d": D},
		},
		{
			name:   "whiteout of a missing path",
			layers: [][]te{{file("a", "a", 0o644)}, {whiteout(".wh.nothing"), whiteout("no/such/.wh.dir")}},
			want:   map[string]checkers.TreeEntry{"a": F("a")},
		},
		{
			name: "opaque directory",
			layers: [][]te{
				{dir("d", 0o755), file("d/a", "a", 0o644), dir("d/e", 0o755), file("d/e/x", "x", 0o644)},
				{dir("d", 0o755), whiteout("d/.wh..wh..opq"), file("d/new", "n", 0o644)},
			},
			want: map[string]checkers.TreeEntry{"d": D, "d/new": F("n")},
		},
		{
			name: "opaque marker after entries of its own layer",
			layers: [][]te{
				{dir("d", 0o755), file("d/a", "a", 0o644), dir("d/e", 0o755), file("d/e/old", "o", 0o644)},
				{dir("d", 0o755), file("d/+new", "n", 0o644), dir("d/e", 0o755), file("d/e/new", "n", 0o644), whiteout("d/.wh..wh..opq")},
			},
			want: map[string]checkers.TreeEntry{"d": D, "d/+new": F("n"), "d/e": D, "d/e/new": F("n")},
		},
		{
			name: "whiteout does not hide its own layer",
			layers: [][]te{
				{file("a", "old", 0o644)},
				{file("a", "new", 0o644), whiteout(".wh.a")},
			},
			want: map[string]checkers.TreeEntry{"a": F("new")},
		},
		{
			name: "whiteout of a directory this layer adds to",
			layers: [][]te{
				{dir("d", 0o755), file("d/old", "o", 0o644)},
				{file("d/new", "n", 0o644), whiteout(".wh.d")},
			},
			want: map[string]checkers.TreeEntry{"d": D, "d/new": F("n")},
		},
		{
			name:   "file replaces a directory",
			layers: [][]te{{dir("d", 0o755), file("d/a", "a", 0o644)}, {file("d", "now a file", 0o644)}},
			want:   map[string]checkers.TreeEntry{"d": F("now a file")},
		},
		{
			name:   "directory replaces a file",
			layers: [][]te{{file("d", "file", 0o644)}, {dir("d", 0o700), file("d/a", "a", 0o644)}},
			want:   map[string]checkers.TreeEntry{"d": checkers.Dir(0o700), "d/a": F("a")},
		},
		{
			name:   "directory over a directory merges and takes the new mode",
			layers: [][]te{{dir("d", 0o755), file("d/a", "a", 0o644)}, {dir("d", 0o750), file("d/b", "b", 0o644)}},
			want:   map[string]checkers.TreeEntry{"d": checkers.Dir(0o750), "d/a": F("a"), "d/b": F("b")},
		},
		{
			name:   "entry through a symlinked directory",
			layers: [][]te{{dir("usr", 0o755), dir("usr/lib", 0o755), symlink("lib", "usr/lib")}, {file("lib/x.so", "x", 0o755)}},
			want:   map[string]checkers.TreeEntry{"usr": D, "usr/lib": D, "lib": checkers.Symlink("usr/lib"), "usr/lib/x.so": checkers.File(0o755, "x")},
		},
		{
			name:   "implicit parents",
			layers: [][]te{{file("a/b/c", "c", 0o600)}},
			want:   map[string]checkers.TreeEntry{"a": D, "a/b": D, "a/b/c": checkers.File(0o600, "c")},
		},
		{
			name: "modes",
			layers: [][]te{{
				dir("ro", 0o555), file("ro/f", "f", 0o444), dir("tmp", 0o1777), file("suid", "s", 0o4755),
				file("none", "n", 0), fifo("pipe"),
			}},
			want: map[string]checkers.TreeEntry{
				"ro": checkers.Dir(0o555), "ro/f": checkers.File(0o444, "f"), "tmp": checkers.Dir(0o1777),
				"suid": checkers.File(0o4755, "s"), "none": checkers.File(0, "n"),
				"pipe": {Type: checkers.TypeOther, Mode: 0o600},
			},
		},
		{
			name: "hard link survives its target's replacement",
			layers: [][]te{
				{file("a", "one", 0o644), hardlink("b", "a")},
				{file("a", "two", 0o644)},
			},
			want: map[string]checkers.TreeEntry{"a": F("two"), "b": F("one")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := applyTars(t, unpack.Options{}, tc.layers...)
			if d := checkers.DiffTrees(tc.want, checkers.Tree(t, root)); d != "" {
				t.Errorf("tree (-want +got):\n%s", d)
			}
		})
	}
}

// TestResult checks what is recorded rather than applied: owners, mtimes
// (directories' too, set last), hard links sharing an inode.
func TestResult(t *testing.T) {
	owned := file("etc/shadow", "s", 0o640)
	owned.h.Uid, owned.h.Gid, owned.h.Uname, owned.h.Gname = 0, 42, "root", "shadow"
	d := dir("etc", 0o755)
	d.h.Uid = 7
	root, res := applyTars(t, unpack.Options{}, []te{d, owned, hardlink("etc/shadow-", "etc/shadow")})
	var got []string
	for _, e := range res.Entries {
		got = append(got, e.Path+" "+e.Kind.String())
	}
	if diff := cmp.Diff([]string{"etc dir", "etc/shadow file", "etc/shadow- file"}, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if e := res.Entries[1]; e.GID != 42 || e.Gname != "shadow" || e.Mode != 0o640 || !e.ModTime.Equal(time.Unix(1_000_000, 0)) {
		t.Errorf("etc/shadow: %+v", e)
	}
	if e := res.Entries[0]; e.UID != 7 {
		t.Errorf("etc: uid %d, want 7", e.UID)
	}
	a, _ := os.Stat(filepath.Join(root, "etc/shadow"))
	b, _ := os.Stat(filepath.Join(root, "etc/shadow-"))
	if !os.SameFile(a, b) {
		t.Errorf("etc/shadow- is not a hard link to etc/shadow")
	}
	for _, p := range []string{"etc", "etc/shadow"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(time.Unix(1_000_000, 0)) {
			t.Errorf("%s: mtime %v, want the header's", p, fi.ModTime())
		}
	}
	// Owners were not applied (the test may run as root: they would be).
	if st := a.Sys().(*syscall.Stat_t); int(st.Gid) == 42 {
		t.Errorf("etc/shadow: gid 42 applied without ApplyOwners")
	}
}

func TestApplyOwners(t *testing.T) {
	owned := file("f", "x", 0o4755)
	owned.h.Uid, owned.h.Gid = 1234, 5678
	l := symlink("l", "f")
	l.h.Uid, l.h.Gid = 1234, 5678
	d := dir("d", 0o700)
	d.h.Uid, d.h.Gid = 1234, 5678
	if os.Geteuid() != 0 {
		root := mustMkdir(t, filepath.Join(t.TempDir(), "root"))
		if _, err := unpack.Apply(context.Background(), root, unpack.Options{ApplyOwners: true}, bytes.NewReader(tarOf(t, owned))); err == nil {
			t.Fatal("ApplyOwners as non-root: no error")
		}
		return
	}
	root, _ := applyTars(t, unpack.Options{ApplyOwners: true}, []te{owned, l, d})
	for _, p := range []string{"f", "l", "d"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: owner %d:%d, want 1234:5678", p, st.Uid, st.Gid)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "f")); fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("f: setuid lost after chown: %v", fi.Mode())
	}
}

// TestDevices: device nodes are made only as root on Linux, and skipped
// with a Skipped record otherwise or when SkipDevices is set; either way
// the Result keeps them.
func TestDevices(t *testing.T) {
	null := te{h: tarHeaderChar("dev/null", 1, 3)}
	for _, skip := range []bool{false, true} {
		root := mustMkdir(t, filepath.Join(t.TempDir(), "root"))
		res, err := unpack.Apply(context.Background(), root, unpack.Options{SkipDevices: skip}, bytes.NewReader(tarOf(t, null)))
		if err != nil {
			if !skip && os.Geteuid() == 0 {
				// A container without CAP_MKNOD: report, but this is the
				// documented behaviour (mknod's error names the entry).
				t.Logf("mknod as root failed (no CAP_MKNOD?): %v", err)
				continue
			}
			t.Fatal(err)
		}
		made := !skip && os.Geteuid() == 0
		_, statErr := os.Lstat(filepath.Join(root, "dev/null"))
		if made != (statErr == nil) {
			t.Errorf("SkipDevices=%v as uid %d: on disk %v, want %v", skip, os.Geteuid(), statErr == nil, made)
		}
		if made == (len(res.Skipped) == 1) {
			t.Errorf("SkipDevices=%v: Skipped = %v", skip, res.Skipped)
		}
		last := res.Entries[len(res.Entries)-1]
		if last.Path != "dev/null" || last.Kind != layer.CharDevice || last.Devmajor != 1 || last.Devminor != 3 {
			t.Errorf("recorded %+v", last)
		}
	}
}

func TestOwnerAccess(t *testing.T) {
	root, res := applyTars(t, unpack.Options{OwnerAccess: true}, []te{dir("ro", 0o500), file("ro/f", "f", 0)})
	got := checkers.Tree(t, root)
	if got["ro"].Mode != 0o700 || got["ro/f"].Mode != 0o600 {
		t.Errorf("on disk: ro %v, ro/f %v; want 0700 and 0600", got["ro"], got["ro/f"])
	}
	if res.Entries[0].Mode != 0o500 || res.Entries[1].Mode != 0 {
		t.Errorf("recorded modes %o, %o; want 0500, 0", res.Entries[0].Mode, res.Entries[1].Mode)
	}
}

// TestImageMatchesUmoci unpacks images made of hand-written layers with
// umoci and with Image and compares the trees.
func TestImageMatchesUmoci(t *testing.T) {
	base := []te{
		dir("etc", 0o755), file("etc/hostname", "box\n", 0o644), file("etc/shadow", "x", 0o600),
		dir("usr", 0o755), dir("usr/bin", 0o755), file("usr/bin/app", "#!/bin/sh\n", 0o755),
		file("usr/bin/su", "su", 0o4755), hardlink("usr/bin/app2", "usr/bin/app"),
		dir("usr/lib", 0o755), symlink("lib", "usr/lib"), symlink("abs", "/usr/bin/app"), symlink("dangling", "nowhere"),
		dir("tmp", 0o1777), dir("ro", 0o555), file("ro/f", "f", 0o444),
		dir("opq", 0o755), file("opq/old", "o", 0o644), dir("opq/sub", 0o755), file("opq/sub/x", "x", 0o644),
		dir("gone", 0o755), file("gone/x", "x", 0o644), file("replace-me", "file", 0o644), dir("dir-to-file", 0o755),
		file("dir-to-file/x", "x", 0o644),
	}
	top := []te{
		file("etc/.wh.shadow", "", 0), file("etc/hostname", "new\n", 0o644),
		whiteout(".wh.gone"), dir("opq", 0o700), whiteout("opq/.wh..wh..opq"), file("opq/new", "n", 0o644),
		dir("replace-me", 0o755), file("replace-me/inside", "i", 0o644), file("dir-to-file", "now a file", 0o600),
		file("lib/libx.so", "elf", 0o755), hardlink("usr/bin/app3", "usr/bin/app"),
	}
	dst, img := writeLayout(t, tarOf(t, base...), tarOf(t, top...))
	want := checkers.Tree(t, checkers.UmociUnpack(t, dst, "test"))

	src, err := layout.Open(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	root := mustMkdir(t, filepath.Join(t.TempDir(), "root"))
	if _, err := unpack.Image(context.Background(), src, img, root, unpack.Options{}); err != nil {
		t.Fatal(err)
	}
	if d := checkers.DiffTrees(want, checkers.Tree(t, root)); d != "" {
		t.Errorf("unpack vs umoci (-umoci +ours):\n%s", d)
	}
}

// TestImageHostile: the same defences hold through Image, which reads a
// layout.
func TestImageHostile(t *testing.T) {
	dst, img := writeLayout(t, tarOf(t, symlink("a", "/")), tarOf(t, hardlink("b", "/etc/shadow")))
	src, err := layout.Open(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	root := mustMkdir(t, filepath.Join(t.TempDir(), "root"))
	_, err = unpack.Image(context.Background(), src, img, root, unpack.Options{})
	if err == nil || !layer.IsBadInput(err) {
		t.Fatalf("Image: %v, want a bad-input error", err)
	}
	if want := "layers[1]"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("Image: %v, want it to name %s", err, want)
	}
}

// TestImageDiffIDMismatch: a config whose diff_id does not match the layer
// is an error.
func TestImageDiffIDMismatch(t *testing.T) {
	dst, img := writeLayout(t, tarOf(t, file("a", "a", 0o644)))
	src, err := layout.Open(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	img.ConfigFile.RootFS.DiffIDs[0] = digest.FromString("not the layer")
	root := mustMkdir(t, filepath.Join(t.TempDir(), "root"))
	if _, err := unpack.Image(context.Background(), src, img, root, unpack.Options{}); err == nil {
		t.Fatal("no error for a wrong diff_id")
	}
}

// TestSkippedDeviceReplaced: a skipped device (recorded, not on disk) that
// a later layer replaces or removes leaves no stale record.
func TestSkippedDeviceReplaced(t *testing.T) {
	null := te{h: tarHeaderChar("dev/null", 1, 3)}
	zero := te{h: tarHeaderChar("dev/zero", 1, 5)}
	root, res := applyTars(t, unpack.Options{SkipDevices: true}, []te{dir("dev", 0o755), null, zero}, []te{file("dev/null", "now a file", 0o644), whiteout("dev/.wh.zero")})
	if len(res.Skipped) != 0 {
		t.Errorf("Skipped = %v, want none", res.Skipped)
	}
	var got []string
	for _, e := range res.Entries {
		got = append(got, e.Kind.String()+" "+e.Path)
	}
	if d := cmp.Diff([]string{"dir dev", "file dev/null"}, got); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	s, err := unpack.Spec(root, res)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es := s.Entries()
	if len(es) != 2 || es[1].Source == nil || es[1].Source.Size() != int64(len("now a file")) {
		t.Errorf("flattened: %+v", es)
	}
}
