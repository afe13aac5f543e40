package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rcTree writes files (path: content) under a new directory.
func rcTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The rounds re-run this test binary, which runs main under
// IMAGEWRITER_TEST_EXEC=1 (see TestMain).
func rcEnv(t *testing.T) { t.Setenv("IMAGEWRITER_TEST_EXEC", "1") }

func TestRebuildCheckPasses(t *testing.T) {
	rcEnv(t)
	dir := rcTree(t, map[string]string{
		"image.json": `{"platforms": ["linux/amd64", "linux/arm64"], "config": {"env": ["A=1"]},
			"layers": [{"entries": [{"type": "tree", "path": "/app", "source": "app"}, {"type": "file", "path": "etc/conf", "source": "conf"}]}]}`,
		"app/bin/run": "#!/bin/sh\n", "app/lib/x": "x", "app/lib/y": "y", "conf": "c",
	})
	r := runCLI(t, nil, "rebuild-check", "-f", filepath.Join(dir, "image.json"))
	r.check(t, 0)
	for _, want := range []string{"round 1:", "umask 022", "round 2:", "TZ=Pacific/Kiritimati", "GOMAXPROCS=8", "reproducible: image sha256:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestRebuildCheckCatches: inputs that are not deterministic, each caught
// and explained.
func TestRebuildCheckCatches(t *testing.T) {
	rcEnv(t)
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  []string
	}{
		{
			name:  "a generated source holding the time",
			files: map[string]string{"image.json": `{"layers": [{"entries": [{"type": "file", "path": "gen.txt", "source": "gen.txt"}]}]}`},
			args:  []string{"-f", "image.json", "--prepare", "date +%s%N > gen.txt"},
			want:  []string{"NOT reproducible: image", "layers[0]: gen.txt: content: sha256:"},
		},
		{
			name:  "modes from the checkout (umask)",
			files: map[string]string{"layer.json": `{"entries": [{"type": "tree", "path": "/srv", "source": "srv", "preserveMode": true}]}`, "srv/index.html": "<h1>"},
			args:  []string{"--layer-spec", "layer.json"},
			want:  []string{"NOT reproducible: layer-0-layer.blob", "srv/index.html: mode: 0644 → 0600", "diffID:"},
		},
		{
			name:  "mtimes from the checkout",
			files: map[string]string{"layer.json": `{"entries": [{"type": "tree", "path": "/srv", "source": "srv", "preserveMtime": true}]}`, "srv/index.html": "<h1>"},
			args:  []string{"--layer-spec", "layer.json"},
			want:  []string{"srv/index.html: mtime: ", "→ 1970-01-01T00:00:00Z"},
		},
		{
			name:  "a command: the round number leaks into the output",
			files: map[string]string{"l.json": `{"entries": [{"type": "file", "path": "round", "source": "round.txt"}]}`},
			args:  []string{"--root", ".", "--prepare", `echo $IMAGEWRITER_REBUILD_ROUND > round.txt`, "--", "layer", "--spec", "l.json", "-o", "{out}/l.tar", "--compression", "none"},
			want:  []string{"NOT reproducible: l.tar", "round: content:", "NOT reproducible: l.tar.json", "diffID:"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := rcTree(t, tc.files)
			args := []string{"rebuild-check"}
			for _, a := range tc.args {
				if strings.HasSuffix(a, ".json") && !strings.HasPrefix(a, "{") && a != "l.json" {
					a = filepath.Join(dir, a)
				}
				if a == "." {
					a = dir
				}
				args = append(args, a)
			}
			// The command form runs in the copy of --root, so its
			// relative paths work from anywhere.
			r := runCLI(t, nil, args...)
			r.check(t, 1, "differ between the rounds")
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestRebuildCheckModes(t *testing.T) {
	rcEnv(t)
	dir := rcTree(t, map[string]string{
		"a/layer.json": `{"entries": [{"type": "file", "path": "a", "source": "a.txt"}]}`, "a/a.txt": "a",
		"b/layer.json": `{"entries": [{"type": "file", "path": "b", "source": "b.txt"}]}`, "b/b.txt": "b",
	})
	r := runCLI(t, nil, "rebuild-check", "--root", dir, "--layer-spec", filepath.Join(dir, "a/layer.json"), "--layer-spec", filepath.Join(dir, "b/layer.json"), "--", "--compression", "zstd")
	r.check(t, 0)
	if strings.Count(r.stdout, "reproducible: layer-") != 4 { // two blobs, two metadata files
		t.Errorf("stdout:\n%s", r.stdout)
	}
	// A failing round is a failure, with the child's message.
	r = runCLI(t, nil, "rebuild-check", "--layer-spec", filepath.Join(dir, "a/layer.json"), "--", "--compression", "lzma")
	r.check(t, 1, "round 1", "lzma")
	// --keep leaves the rounds for inspection.
	r = runCLI(t, nil, "rebuild-check", "--keep", "--layer-spec", filepath.Join(dir, "a/layer.json"))
	r.check(t, 0, "keeping ")
	kept := strings.TrimSpace(strings.SplitN(r.stderr, "keeping ", 2)[1])
	// The root defaults to the spec's directory.
	if _, err := os.Stat(filepath.Join(kept, "r2", "elsewhere", "checkout", "src", "layer.json")); err != nil {
		t.Errorf("--keep: %v", err)
	}
	removeAll(kept)
}

func TestRebuildCheckUsage(t *testing.T) {
	dir := rcTree(t, map[string]string{"image.json": `{}`, "sub/l.json": `{"entries": []}`})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rebuild-check"}, "give -f SPEC"},
		{[]string{"rebuild-check", "-f", filepath.Join(dir, "image.json"), "--layer-spec", filepath.Join(dir, "sub/l.json")}, "give one"},
		{[]string{"rebuild-check", "--root", filepath.Join(dir, "sub"), "-f", filepath.Join(dir, "image.json")}, "not under the root"},
		{[]string{"rebuild-check", "-f", filepath.Join(dir, "image.json"), "stray"}, "after --"},
		{[]string{"rebuild-check", "--", "layer"}, "--root is required"},
		{[]string{"rebuild-check", "--layer-spec", filepath.Join(dir, "sub/l.json"), "--platform", "linux/amd64", "--platform", "linux/arm64"}, "one platform"},
	} {
		runCLI(t, nil, tc.args...).check(t, 2, tc.want)
	}
}

// TestRebuildCheckExpect: round 1 must also match what the real build made.
func TestRebuildCheckExpect(t *testing.T) {
	rcEnv(t)
	dir := rcTree(t, map[string]string{"layer.json": `{"entries": [{"type": "file", "path": "a", "source": "a.txt"}]}`, "a.txt": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
	spec := filepath.Join(dir, "layer.json")
	built := filepath.Join(t.TempDir(), "built.tgz")
	runCLI(t, nil, "layer", "--spec", spec, "--output", built).check(t, 0)
	r := runCLI(t, nil, "rebuild-check", "--layer-spec", spec, "--expect", built+".json="+built)
	r.check(t, 0)
	if !strings.Contains(r.stdout, "matches the build: layer-0-layer sha256:") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	// The build used another level than the rounds: caught and explained.
	runCLI(t, nil, "layer", "--spec", spec, "--output", built, "--level", "1").check(t, 0)
	r = runCLI(t, nil, "rebuild-check", "--layer-spec", spec, "--expect", built+".json="+built)
	r.check(t, 1, "differ from what the build made")
	for _, want := range []string{"NOT what the build made: layer-0-layer", "layers[0]: compression", "level 1", "level 6"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	runCLI(t, nil, "rebuild-check", "--layer-spec", spec, "--expect", "a", "--expect", "b").check(t, 2, "one per --layer-spec")
}
