package unpack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// TestBreakouts applies hostile layers, in the style of containerd's
// TestBreakouts: each must fail with an error naming the entry, or be
// written inside the root, and nothing outside the root may change. The
// sandbox holds the root and, next to it, a canary directory that hostile
// symlinks aim at by its absolute host path.
func TestBreakouts(t *testing.T) {
	type sandbox struct{ top, root, canary string }
	tests := []struct {
		name string
		// layers gets the sandbox so entries can name real host paths.
		layers func(s sandbox) [][]te
		// wantErr, when set, must be matched by errors.Is; "" in
		// wantErrText means any error.
		wantErr     error
		wantErrText string
		// check inspects the root after a successful unpack.
		check func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry)
	}{
		{
			name:    "dotdot name",
			layers:  func(sandbox) [][]te { return [][]te{{file("../evil", "x", 0o644)}} },
			wantErr: layer.ErrUnsafePath, wantErrText: "../evil",
		},
		{
			name:    "dotdot inside name",
			layers:  func(sandbox) [][]te { return [][]te{{dir("a", 0o755), file("a/../../evil", "x", 0o644)}} },
			wantErr: layer.ErrUnsafePath, wantErrText: "a/../../evil",
		},
		{
			name:    "absolute name",
			layers:  func(s sandbox) [][]te { return [][]te{{file(s.canary+"/x", "x", 0o644)}} },
			wantErr: layer.ErrUnsafePath, wantErrText: "is absolute",
		},
		{
			name:    "absolute /etc/x",
			layers:  func(sandbox) [][]te { return [][]te{{file("/etc/x", "x", 0o644)}} },
			wantErr: layer.ErrUnsafePath, wantErrText: "/etc/x",
		},
		{
			name: "symlink to / then a file through it",
			layers: func(sandbox) [][]te {
				return [][]te{{symlink("a", "/"), file("a/etc/passwd", "root::0:0::/:/bin/sh\n", 0o644)}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {
				want := map[string]checkers.TreeEntry{
					"a":          checkers.Symlink("/"),
					"etc":        checkers.Dir(0o755),
					"etc/passwd": checkers.File(0o644, "root::0:0::/:/bin/sh\n"),
				}
				if d := checkers.DiffTrees(want, got); d != "" {
					t.Errorf("root (-want +got):\n%s", d)
				}
			},
		},
		{
			name: "symlink to the canary's host path then a file through it",
			layers: func(s sandbox) [][]te {
				return [][]te{{symlink("a", s.canary), file("a/file", "pwned", 0o644)}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {
				if got[strings.TrimPrefix(filepath.ToSlash(s.canary), "/")+"/file"] != checkers.File(0o644, "pwned") {
					t.Errorf("the file did not land inside the root; tree: %v", keys(got))
				}
			},
		},
		{
			name: "symlink to .. then a file through it",
			layers: func(sandbox) [][]te {
				return [][]te{{symlink("b", ".."), file("b/evil", "x", 0o644), symlink("c", "../canary"), file("c/file", "pwned", 0o644)}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {
				want := map[string]checkers.TreeEntry{
					"b":           checkers.Symlink(".."),
					"c":           checkers.Symlink("../canary"),
					"evil":        checkers.File(0o644, "x"),
					"canary":      checkers.Dir(0o755),
					"canary/file": checkers.File(0o644, "pwned"),
				}
				if d := checkers.DiffTrees(want, got); d != "" {
					t.Errorf("root (-want +got):\n%s", d)
				}
			},
		},
		{
			name: "symlink planted by a lower layer",
			layers: func(sandbox) [][]te {
				return [][]te{{symlink("a", "../../../../..")}, {file("a/canary/file", "pwned", 0o644)}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {
				if got["canary/file"] != checkers.File(0o644, "pwned") {
					t.Errorf("canary/file inside the root: %v", got["canary/file"])
				}
			},
		},
		{
			name:    "whiteout of ..",
			layers:  func(sandbox) [][]te { return [][]te{{whiteout(".wh..")}} },
			wantErr: layer.ErrUnsafePath, wantErrText: ".wh..",
		},
		{
			name:    "whiteout of .. in a directory",
			layers:  func(sandbox) [][]te { return [][]te{{dir("x", 0o755), whiteout("x/.wh..")}} },
			wantErr: layer.ErrUnsafePath, wantErrText: "x/.wh..",
		},
		{
			name:    "whiteout climbing out",
			layers:  func(sandbox) [][]te { return [][]te{{whiteout("../.wh.canary")}} },
			wantErr: layer.ErrUnsafePath,
		},
		{
			name: "whiteout through a symlink to the canary",
			layers: func(s sandbox) [][]te {
				return [][]te{{symlink("a", s.top)}, {whiteout("a/.wh.canary")}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {},
		},
		{
			name: "opaque directory through a symlink to the canary",
			layers: func(s sandbox) [][]te {
				return [][]te{{symlink("a", s.canary)}, {whiteout("a/.wh..wh..opq")}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {},
		},
		{
			name: "opaque directory through a symlink to ..",
			layers: func(sandbox) [][]te {
				return [][]te{{file("keep", "k", 0o644), symlink("up", "..")}, {whiteout("up/.wh..wh..opq")}}
			},
			// The opaque marker resolves to the root itself: it hides the
			// lower layer, inside the root, and touches nothing else.
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {
				if len(got) != 0 {
					t.Errorf("root after an opaque root: %v, want empty", keys(got))
				}
			},
		},
		{
			name:    "hard link to /etc/shadow",
			layers:  func(sandbox) [][]te { return [][]te{{hardlink("h", "/etc/shadow")}} },
			wantErr: layer.ErrUnsafePath, wantErrText: "h",
		},
		{
			name:    "hard link climbing out",
			layers:  func(sandbox) [][]te { return [][]te{{hardlink("h", "../canary/file")}} },
			wantErr: layer.ErrUnsafePath,
		},
		{
			name: "hard link through a symlink to /",
			layers: func(sandbox) [][]te {
				return [][]te{{symlink("a", "/"), hardlink("h", "a/etc/shadow")}}
			},
			wantErr: layer.ErrConflict, wantErrText: "not in the tree",
		},
		{
			name: "hard link through a symlink to the canary",
			layers: func(s sandbox) [][]te {
				return [][]te{{symlink("a", s.canary)}, {hardlink("h", "a/file")}}
			},
			wantErr: layer.ErrConflict, wantErrText: "not in the tree",
		},
		{
			name: "hard link to a symlink links the symlink",
			layers: func(s sandbox) [][]te {
				return [][]te{{symlink("a", s.canary+"/file"), hardlink("h", "a")}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {},
		},
		{
			name: "file over a symlink replaces the symlink",
			layers: func(s sandbox) [][]te {
				return [][]te{{symlink("s", s.canary+"/file")}, {file("s", "pwned", 0o644)}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {
				if got["s"] != checkers.File(0o644, "pwned") {
					t.Errorf("s = %v, want the new file", got["s"])
				}
			},
		},
		{
			name: "directory over a symlink replaces the symlink",
			layers: func(s sandbox) [][]te {
				return [][]te{{symlink("d", s.canary)}, {dir("d", 0o755), file("d/file", "pwned", 0o644)}}
			},
			check: func(t *testing.T, s sandbox, got map[string]checkers.TreeEntry) {
				if got["d"] != checkers.Dir(0o755) || got["d/file"] != checkers.File(0o644, "pwned") {
					t.Errorf("d = %v, d/file = %v", got["d"], got["d/file"])
				}
			},
		},
		{
			name: "symlink loop",
			layers: func(sandbox) [][]te {
				return [][]te{{symlink("l1", "l2"), symlink("l2", "l1"), file("l1/x", "x", 0o644)}}
			},
			wantErr: layer.ErrUnsafePath, wantErrText: "symlinks",
		},
		{
			name: "file as a parent",
			layers: func(sandbox) [][]te {
				return [][]te{{file("f", "x", 0o644), file("f/x", "x", 0o644)}}
			},
			wantErrText: "not a directory",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			s := sandbox{top: top, root: mustMkdir(t, filepath.Join(top, "root")), canary: mustMkdir(t, filepath.Join(top, "canary"))}
			if err := os.WriteFile(filepath.Join(s.canary, "file"), []byte("canary"), 0o644); err != nil {
				t.Fatal(err)
			}
			var streams []io.Reader
			for _, l := range tc.layers(s) {
				streams = append(streams, bytes.NewReader(tarOf(t, l...)))
			}
			_, err := unpack.Apply(context.Background(), s.root, unpack.Options{}, streams...)
			switch {
			case tc.wantErr != nil || tc.wantErrText != "":
				if err == nil {
					t.Fatalf("Apply: no error; tree %v", keys(checkers.Tree(t, s.root)))
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("Apply: %v, want an error wrapping %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErrText) {
					t.Errorf("Apply: %v, want it to name %q", err, tc.wantErrText)
				}
			case err != nil:
				t.Fatalf("Apply: %v", err)
			default:
				tc.check(t, s, checkers.Tree(t, s.root))
			}
			// Nothing outside the root changed.
			want := map[string]checkers.TreeEntry{"canary": checkers.Dir(0o755), "canary/file": checkers.File(0o644, "canary")}
			got := checkers.Tree(t, top)
			for p := range got {
				if p == "root" || strings.HasPrefix(p, "root/") {
					delete(got, p)
				}
			}
			if d := checkers.DiffTrees(want, got); d != "" {
				t.Errorf("outside the root (-want +got):\n%s", d)
			}
		})
	}
}

func keys(m map[string]checkers.TreeEntry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
