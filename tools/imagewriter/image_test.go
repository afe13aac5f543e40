package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
)

// TestImageFlags covers the flags the Bazel rules use: --base-dir on layer,
// --manifest-out, --config-out and --stamp-file on image, --index-out on
// index, --stamp-file on output.
func TestImageFlags(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src", "hello.txt"), "hello\n", 0o644)
	// The spec lives elsewhere; its source is relative to --base-dir.
	writeJSON(t, filepath.Join(dir, "spec", "layer.json"), map[string]any{
		"entries": []any{map[string]any{"type": "file", "path": "/hello.txt", "source": "src/hello.txt"}},
	})
	t.Chdir(dir)
	if r := runCLI(t, nil, "layer", "--quiet", "--spec", "spec/layer.json", "--base-dir", ".", "-o", "l.tgz", "--metadata", "l.json"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("layer --quiet: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, "layer", "--spec", "spec/layer.json", "-o", "x.tgz"); r.code != 1 || !strings.Contains(r.stderr, "src/hello.txt") {
		t.Errorf("without --base-dir the source resolves against the spec's directory: got %d %q", r.code, r.stderr)
	}

	writeFile(t, "stable.txt", "STABLE_GIT_COMMIT abc123\nBUILD_USER someone\n", 0o644)
	writeFile(t, "volatile.txt", "BUILD_TIMESTAMP 1700000000\n", 0o644)
	writeJSON(t, "req.json", map[string]any{
		"platform":    "linux/amd64",
		"created":     "@{BUILD_TIMESTAMP}",
		"config":      map[string]any{"labels": map[string]string{"commit": "{STABLE_GIT_COMMIT}", "other": "{UNKNOWN} {x"}},
		"annotations": map[string]string{"by": "{BUILD_USER}@{BUILD_TIMESTAMP}"},
	})
	runCLI(t, nil, "image", "--request", "req.json", "--layer", "l.json", "-o", "img.json",
		"--manifest-out", "manifest.json", "--config-out", "config.json",
		"--stamp-file", "stable.txt", "--stamp-file", "volatile.txt").check(t, 0)
	m, err := build.ReadImageMetadata("img.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		want string
	}{{"manifest.json", m.Manifest.Data}, {"config.json", m.Config.Data}} {
		got, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, []byte(c.want)) {
			t.Errorf("%s is not the blob the metadata names:\n%s", c.file, cmp.Diff(c.want, string(got)))
		}
	}
	var cf struct {
		Created string `json:"created"`
		Config  struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(m.Config.Data), &cf); err != nil {
		t.Fatal(err)
	}
	if want := "2023-11-14T22:13:20Z"; cf.Created != want {
		t.Errorf("created = %q, want %q", cf.Created, want)
	}
	wantLabels := map[string]string{"commit": "abc123", "other": "{UNKNOWN} {x"}
	if d := cmp.Diff(wantLabels, cf.Config.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	var mf struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal([]byte(m.Manifest.Data), &mf); err != nil {
		t.Fatal(err)
	}
	if got, want := mf.Annotations["by"], "someone@1700000000"; got != want {
		t.Errorf("annotation by = %q, want %q", got, want)
	}

	runCLI(t, nil, "index", "--image", "img.json", "-o", "idx.json", "--index-out", "index.json",
		"--annotation", "commit={STABLE_GIT_COMMIT}", "--stamp-file", "stable.txt").check(t, 0)
	im, err := build.ReadIndexMetadata("idx.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile("index.json"); err != nil || string(got) != im.Index.Data {
		t.Errorf("index.json is not the blob the metadata names (%v):\n%s", err, cmp.Diff(im.Index.Data, string(got)))
	}
	if !strings.Contains(im.Index.Data, `"commit":"abc123"`) {
		t.Errorf("index annotations not stamped: %s", im.Index.Data)
	}

	runCLI(t, nil, "output", "--image", "img.json", "--layer", "l.json=l.tgz", "--format", "oci",
		"--tag", "example.com/app:{STABLE_GIT_COMMIT}", "--stamp-file", "stable.txt", "-o", "layout").check(t, 0)
	idx, err := os.ReadFile(filepath.Join("layout", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(idx), `"org.opencontainers.image.ref.name":"abc123"`) {
		t.Errorf("index.json does not carry the stamped tag: %s", idx)
	}
}

func TestStampReplace(t *testing.T) {
	st := stampValues{"A": "1", "B": "", "LONG_KEY": "x y"}
	for in, want := range map[string]string{
		"":              "",
		"plain":         "plain",
		"{A}":           "1",
		"{A}{B}{A}":     "11",
		"a-{LONG_KEY}-": "a-x y-",
		"{C} {A}":       "{C} 1",
		"{A":            "{A",
		"}{A}{":         "}1{",
		"{{A}}":         "{{A}}",
	} {
		if got := st.replace(in); got != want {
			t.Errorf("replace(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOutputSymlinkedBaseLayout: a base layout whose blobs are symlinks (a
// Bazel sandbox's tree artifact input) gives an output of regular files, not
// links to those symlinks: the files behind them, hard-linked.
func TestOutputSymlinkedBaseLayout(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "hello.txt", "hello\n", 0o644)
	writeJSON(t, "layer.json", map[string]any{
		"entries": []any{map[string]any{"type": "file", "path": "/hello.txt", "source": "hello.txt"}},
	})
	runCLI(t, nil, "layer", "-q", "--spec", "layer.json", "-o", "l.tgz", "--metadata", "l.json").check(t, 0)
	writeJSON(t, "req.json", map[string]any{"platform": "linux/amd64"})
	runCLI(t, nil, "image", "-q", "--request", "req.json", "--layer", "l.json", "-o", "base.json").check(t, 0)
	runCLI(t, nil, "output", "-q", "--image", "base.json", "--layer", "l.json=l.tgz", "-o", "real").check(t, 0)

	// The staged copy: directories, and a symlink for every file.
	err := filepath.WalkDir("real", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		staged := filepath.Join("staged", strings.TrimPrefix(p, "real"))
		if d.IsDir() {
			return os.MkdirAll(staged, 0o755)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		return os.Symlink(abs, staged)
	})
	if err != nil {
		t.Fatal(err)
	}
	writeJSON(t, "req2.json", map[string]any{"platform": "linux/amd64"})
	runCLI(t, nil, "image", "-q", "--request", "req2.json", "--base-layout", "staged", "-o", "child.json").check(t, 0)
	runCLI(t, nil, "output", "-q", "--image", "child.json", "--base-layout", "staged", "-o", "out").check(t, 0)
	err = filepath.WalkDir("out", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !d.Type().IsRegular() {
			t.Errorf("%s: %v, want a regular file", p, d.Type())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The base's layer blob is the same file as the one behind the symlink.
	err = filepath.WalkDir("real/blobs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out := filepath.Join("out", strings.TrimPrefix(p, "real"))
		a, errA := os.Stat(p)
		b, errB := os.Stat(out)
		if errA != nil || errB != nil {
			return nil // a blob only the child has, or only the base
		}
		if !os.SameFile(a, b) {
			t.Errorf("%s is a copy of %s, not a hard link", out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runCLI(t, nil, "verify", "out").check(t, 0)
}
