package layer_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

var epoch = reproducible.Epoch.Unix()

// TestNewSpec checks ordering, hard link regrouping and the options.
func TestNewSpec(t *testing.T) {
	t2020 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   []layer.Entry
		opts layer.SpecOptions
		want []plainEntry
	}{
		{
			name: "sorted by tar name (a/.wh.c, a/b/.wh..wh..opq), parents first",
			in: []layer.Entry{
				{Path: "b", Kind: layer.Dir},
				{Path: "/a/b/", Kind: layer.Dir},
				{Path: "a-b", Kind: layer.File},
				{Path: "./a", Kind: layer.Dir},
				{Path: "a/c", Kind: layer.Whiteout},
				{Path: "a/b", Kind: layer.Opaque},
				{Path: "é", Kind: layer.File},
			},
			want: []plainEntry{
				{Path: "a", Kind: layer.Dir, ModTime: epoch},
				{Path: "a-b", Kind: layer.File, ModTime: epoch},
				{Path: "a/c", Kind: layer.Whiteout, ModTime: epoch},
				{Path: "a/b", Kind: layer.Dir, ModTime: epoch},
				{Path: "a/b", Kind: layer.Opaque, ModTime: epoch},
				{Path: "b", Kind: layer.Dir, ModTime: epoch},
				{Path: "é", Kind: layer.File, ModTime: epoch},
			},
		},
		{
			name: "default mtime",
			in:   []layer.Entry{{Path: "a", Kind: layer.File}, {Path: "b", Kind: layer.File, ModTime: time.Unix(5, 0)}},
			opts: layer.SpecOptions{DefaultModTime: t2020},
			want: []plainEntry{{Path: "a", Kind: layer.File, ModTime: t2020.Unix()}, {Path: "b", Kind: layer.File, ModTime: 5}},
		},
		{
			name: "a hard link before its target is turned around, metadata shared",
			in: []layer.Entry{
				{Path: "z", Kind: layer.File, Mode: 0o755, UID: 7, Source: layer.Inline("data"), Xattrs: map[string]string{"user.x": "1"}},
				{Path: "a", Kind: layer.Hardlink, Linkname: "/z", Mode: 0o600},
				{Path: "m", Kind: layer.Hardlink, Linkname: "a"},
			},
			want: []plainEntry{
				{Path: "a", Kind: layer.File, Mode: 0o755, UID: 7, ModTime: epoch, Data: "data", Xattrs: map[string]string{"user.x": "1"}},
				{Path: "m", Kind: layer.Hardlink, Mode: 0o755, UID: 7, ModTime: epoch, Linkname: "a"},
				{Path: "z", Kind: layer.Hardlink, Mode: 0o755, UID: 7, ModTime: epoch, Linkname: "a"},
			},
		},
		{
			name: "parent directories added when asked, from the template",
			in:   []layer.Entry{{Path: "usr/bin/app", Kind: layer.File}, {Path: "usr", Kind: layer.Dir, Mode: 0o700}, {Path: "var/cache", Kind: layer.Opaque}},
			opts: layer.SpecOptions{CreateParentDirectories: true, ParentDirectory: layer.Entry{UID: 3, Uname: "u"}},
			want: []plainEntry{
				{Path: "usr", Kind: layer.Dir, Mode: 0o700, ModTime: epoch},
				{Path: "usr/bin", Kind: layer.Dir, Mode: 0o755, UID: 3, Uname: "u", ModTime: epoch},
				{Path: "usr/bin/app", Kind: layer.File, ModTime: epoch},
				{Path: "var", Kind: layer.Dir, Mode: 0o755, UID: 3, Uname: "u", ModTime: epoch},
				{Path: "var/cache", Kind: layer.Dir, Mode: 0o755, UID: 3, Uname: "u", ModTime: epoch},
				{Path: "var/cache", Kind: layer.Opaque, ModTime: epoch},
			},
		},
		{
			name: "missing parents are not added by default",
			in:   []layer.Entry{{Path: "usr/bin/app", Kind: layer.File}},
			want: []plainEntry{{Path: "usr/bin/app", Kind: layer.File, ModTime: epoch}},
		},
		{
			name: "identical files hard-linked when asked, only with identical metadata",
			in: []layer.Entry{
				{Path: "c", Kind: layer.File, Source: layer.Inline("same")},
				{Path: "b", Kind: layer.File, Source: layer.Inline("same")},
				{Path: "a", Kind: layer.File, Source: layer.Inline("same"), Mode: 0o755},
				{Path: "d", Kind: layer.File, Source: layer.Inline("diff")},
				{Path: "e", Kind: layer.File},
				{Path: "f", Kind: layer.File},
			},
			opts: layer.SpecOptions{HardlinkDuplicates: true},
			want: []plainEntry{
				{Path: "a", Kind: layer.File, Mode: 0o755, ModTime: epoch, Data: "same"},
				{Path: "b", Kind: layer.File, ModTime: epoch, Data: "same"},
				{Path: "c", Kind: layer.Hardlink, ModTime: epoch, Linkname: "b"},
				{Path: "d", Kind: layer.File, ModTime: epoch, Data: "diff"},
				{Path: "e", Kind: layer.File, ModTime: epoch},
				{Path: "f", Kind: layer.File, ModTime: epoch},
			},
		},
		{
			name: "a source on a non-file is dropped",
			in:   []layer.Entry{{Path: "d", Kind: layer.Dir, Source: layer.Inline("x")}},
			want: []plainEntry{{Path: "d", Kind: layer.Dir, ModTime: epoch}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := layer.NewSpec(tt.in, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, plain(s.Entries())); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewSpecDoesNotKeepInput: NewSpec copies; changing the caller's slice
// afterwards changes nothing, and Entries returns a copy.
func TestNewSpecDoesNotKeepInput(t *testing.T) {
	in := []layer.Entry{{Path: "a", Kind: layer.File}}
	s, err := layer.NewSpec(in, layer.SpecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in[0].Path = "changed"
	got := s.Entries()
	got[0].Path = "changed too"
	if p := s.Entries()[0].Path; p != "a" {
		t.Errorf("entry path %q, want a", p)
	}
}

// TestSpecFileOptions covers what the spec file adds over NewSpec: defaults,
// modes chosen from the source, tree walking and its options, tar options,
// per-platform sources and attributes.
func TestSpecFileOptions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exec"), "x", 0o750)
	writeFile(t, filepath.Join(dir, "plain"), "p", 0o600)
	writeFile(t, filepath.Join(dir, "arm"), "arm", 0o644)
	writeFile(t, filepath.Join(dir, "tree", "s", "f"), "f", 0o640)
	symlink(t, "s/f", filepath.Join(dir, "tree", "l"))
	if err := os.Chmod(filepath.Join(dir, "tree", "s"), os.ModeSetgid|0o750); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2003, 4, 5, 6, 7, 8, 900, time.UTC)
	for _, p := range []string{"tree", "tree/s", "tree/s/f"} {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "in.tar"), string(goldenInputTar(t)), 0o644)

	t2020 := time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC).Unix()
	t2001 := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	tests := []struct {
		name     string
		spec     map[string]any
		platform string
		want     []plainEntry
	}{
		{
			name: "modes from the source: 0755 if executable, else 0644",
			spec: entries(map[string]any{"type": "file", "path": "/e", "source": "exec"}, map[string]any{"type": "file", "path": "/p", "source": "plain"}),
			want: []plainEntry{{Path: "e", Kind: layer.File, Mode: 0o755, ModTime: epoch, Data: "x"}, {Path: "p", Kind: layer.File, Mode: 0o644, ModTime: epoch, Data: "p"}},
		},
		{
			name: "defaults, overridden per entry",
			spec: map[string]any{
				"defaults": map[string]any{"fileMode": "0444", "dirMode": "0711", "uid": 1, "gid": 2, "uname": "u", "gname": "g", "mtime": "@978307200"},
				"entries": []any{
					map[string]any{"type": "file", "path": "/e", "source": "exec"},
					map[string]any{"type": "file", "path": "/i", "content": "i", "uid": 0, "uname": ""},
					map[string]any{"type": "dir", "path": "/d"},
					map[string]any{"type": "symlink", "path": "/s", "target": "e"},
				},
			},
			want: []plainEntry{
				{Path: "d", Kind: layer.Dir, Mode: 0o711, UID: 1, GID: 2, Uname: "u", Gname: "g", ModTime: t2001},
				{Path: "e", Kind: layer.File, Mode: 0o444, UID: 1, GID: 2, Uname: "u", Gname: "g", ModTime: t2001, Data: "x"},
				{Path: "i", Kind: layer.File, Mode: 0o444, GID: 2, Gname: "g", ModTime: t2001, Data: "i"},
				{Path: "s", Kind: layer.Symlink, Mode: 0o777, UID: 1, GID: 2, Uname: "u", Gname: "g", ModTime: t2001, Linkname: "e"},
			},
		},
		{
			name: "tree: on-disk modes and mtimes ignored",
			spec: entries(map[string]any{"type": "tree", "path": "/t", "source": "tree"}),
			want: []plainEntry{
				{Path: "t", Kind: layer.Dir, Mode: 0o755, ModTime: epoch},
				{Path: "t/l", Kind: layer.Symlink, Mode: 0o777, ModTime: epoch, Linkname: "s/f"},
				{Path: "t/s", Kind: layer.Dir, Mode: 0o755, ModTime: epoch},
				{Path: "t/s/f", Kind: layer.File, Mode: 0o644, ModTime: epoch, Data: "f"},
			},
		},
		{
			name: "tree: preserveMode, preserveMtime, followSymlinks",
			spec: entries(map[string]any{"type": "tree", "path": "/t", "source": "tree", "preserveMode": true, "preserveMtime": true, "followSymlinks": true}),
			want: []plainEntry{
				{Path: "t", Kind: layer.Dir, Mode: 0o755, ModTime: old.Unix()},
				{Path: "t/l", Kind: layer.File, Mode: 0o640, ModTime: old.Unix(), Data: "f"},
				{Path: "t/s", Kind: layer.Dir, Mode: 0o2750, ModTime: old.Unix()},
				{Path: "t/s/f", Kind: layer.File, Mode: 0o640, ModTime: old.Unix(), Data: "f"},
			},
		},
		{
			name: "tree at the root has no entry of its own",
			spec: entries(map[string]any{"type": "tree", "path": "/", "source": "tree/s"}),
			want: []plainEntry{{Path: "f", Kind: layer.File, Mode: 0o644, ModTime: epoch, Data: "f"}},
		},
		{
			name: "tar: root skipped, mtimes reset, names dropped, attributes applied",
			spec: map[string]any{
				"entries":    []any{map[string]any{"type": "tar", "source": "in.tar", "uid": 9}},
				"attributes": map[string]any{"etc/hosts": map[string]any{"mode": "0600", "mtime": "@5"}},
			},
			want: []plainEntry{
				{Path: "bin", Kind: layer.Dir, Mode: 0o755, UID: 9, ModTime: epoch},
				{Path: "bin/busybox", Kind: layer.File, Mode: 0o755, UID: 9, ModTime: epoch, Data: "\x7fELF busybox"},
				{Path: "bin/sh", Kind: layer.Symlink, Mode: 0o777, UID: 9, ModTime: epoch, Linkname: "busybox"},
				{Path: "etc", Kind: layer.Dir, Mode: 0o755, UID: 9, ModTime: epoch},
				{Path: "etc/hosts", Kind: layer.File, Mode: 0o600, UID: 9, ModTime: 5, Data: "127.0.0.1 localhost\n"},
				{Path: "etc/hosts.bak", Kind: layer.Hardlink, Mode: 0o600, UID: 9, ModTime: 5, Linkname: "etc/hosts"},
				{Path: "etc/shadow", Kind: layer.File, Mode: 0o640, UID: 9, GID: 42, ModTime: epoch, Data: "root:*:19000::::::\n", Xattrs: map[string]string{"user.tar": "from-tar"}},
				{Path: "home/user", Kind: layer.Dir, Mode: 0o750, UID: 9, GID: 1000, ModTime: epoch},
				{Path: "var/lib", Kind: layer.Dir, Mode: 0o755, UID: 9, ModTime: epoch},
				{Path: "var/lib/stale", Kind: layer.Whiteout, UID: 9, ModTime: epoch},
			},
		},
		{
			name: "tar: preserveMtime and preserveNames",
			spec: entries(map[string]any{"type": "tar", "path": "p", "source": "in.tar", "preserveMtime": true, "preserveNames": true}),
			want: []plainEntry{
				{Path: "p/bin", Kind: layer.Dir, Mode: 0o755, Uname: "root", Gname: "root", ModTime: t2020},
				{Path: "p/bin/busybox", Kind: layer.File, Mode: 0o755, Uname: "root", Gname: "root", ModTime: t2020, Data: "\x7fELF busybox"},
				{Path: "p/bin/sh", Kind: layer.Symlink, Mode: 0o777, ModTime: t2020, Linkname: "busybox"},
				{Path: "p/etc", Kind: layer.Dir, Mode: 0o755, ModTime: t2020},
				{Path: "p/etc/hosts", Kind: layer.File, Mode: 0o644, Uname: "root", ModTime: t2020, Data: "127.0.0.1 localhost\n"},
				{Path: "p/etc/hosts.bak", Kind: layer.Hardlink, Mode: 0o644, Uname: "root", ModTime: t2020, Linkname: "p/etc/hosts"},
				{Path: "p/etc/shadow", Kind: layer.File, Mode: 0o640, GID: 42, Gname: "shadow", ModTime: t2020, Data: "root:*:19000::::::\n", Xattrs: map[string]string{"user.tar": "from-tar"}},
				{Path: "p/home/user", Kind: layer.Dir, Mode: 0o750, UID: 1000, GID: 1000, Uname: "user", Gname: "user", ModTime: t2020},
				{Path: "p/var/lib", Kind: layer.Dir, Mode: 0o755, ModTime: t2020},
				{Path: "p/var/lib/stale", Kind: layer.Whiteout, ModTime: t2020},
			},
		},
		{
			name:     "per-platform source",
			spec:     entries(map[string]any{"type": "file", "path": "/bin", "source": "plain", "sources": map[string]string{"linux/arm64": "arm"}}),
			platform: "linux/arm64",
			want:     []plainEntry{{Path: "bin", Kind: layer.File, Mode: 0o644, ModTime: epoch, Data: "arm"}},
		},
		{
			name:     "per-platform source falls back to source",
			spec:     entries(map[string]any{"type": "file", "path": "/bin", "source": "plain", "sources": map[string]string{"linux/arm64": "arm"}}),
			platform: "linux/amd64",
			want:     []plainEntry{{Path: "bin", Kind: layer.File, Mode: 0o644, ModTime: epoch, Data: "p"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := jsonBytes(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			sf, err := layer.ParseSpecFile("spec.json", b)
			if err != nil {
				t.Fatal(err)
			}
			s, err := sf.Spec(layer.ResolveOptions{BaseDir: dir, Platform: tt.platform, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if diff := cmp.Diff(tt.want, plain(s.Entries())); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSourceDateEpoch: ResolveOptions.DefaultModTime (what
// --source-date-epoch passes) sets every mtime the spec does not set.
func TestSourceDateEpoch(t *testing.T) {
	sf, err := layer.ParseSpecFile("spec.json", []byte(`{"entries":[{"type":"dir","path":"/a"},{"type":"dir","path":"/b","mtime":"@7"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	sde, _ := reproducible.ParseSourceDateEpoch("1700000000")
	s, err := sf.Spec(layer.ResolveOptions{DefaultModTime: sde})
	if err != nil {
		t.Fatal(err)
	}
	want := []plainEntry{{Path: "a", Kind: layer.Dir, Mode: 0o755, ModTime: 1700000000}, {Path: "b", Kind: layer.Dir, Mode: 0o755, ModTime: 7}}
	if diff := cmp.Diff(want, plain(s.Entries())); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}
