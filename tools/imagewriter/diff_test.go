package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/diff"
)

// specImage writes spec (JSON) to a new directory, builds it with
// `imagewriter build`, tagged "test", and returns the layout's path.
func specImage(t *testing.T, spec string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	sp := filepath.Join(dir, "image.json")
	if err := os.WriteFile(sp, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "layout")
	runCLI(t, nil, append([]string{"build", "-f", sp, "-o", out, "--tag", "example.com/test:test"}, extra...)...).check(t, 0)
	return out
}

const diffSpec = `{"platforms": %s, "config": {"env": ["MODE=%s"]},
  "layers": [{"entries": [{"type": "file", "path": "etc/app.conf", "content": "%s", "mode": "0644"}]}]}`

func TestDiffCommand(t *testing.T) {
	spec := func(platforms, mode, content string) string {
		s := strings.Replace(diffSpec, "%s", platforms, 1)
		s = strings.Replace(s, "%s", mode, 1)
		return strings.Replace(s, "%s", content, 1)
	}
	a := specImage(t, spec(`["linux/amd64"]`, "dev", "x=1"))
	same := specImage(t, spec(`["linux/amd64"]`, "dev", "x=1"))
	b := specImage(t, spec(`["linux/amd64"]`, "prod", "x=2"))

	r := runCLI(t, nil, "diff", a, same)
	r.check(t, 0)
	if !strings.Contains(r.stdout, "identical") {
		t.Errorf("identical images: stdout %q", r.stdout)
	}

	r = runCLI(t, nil, "diff", a, b)
	r.check(t, 1)
	for _, want := range []string{`config config.Env[0]: "MODE=dev" → "MODE=prod"`, "layers[0]: etc/app.conf: content: sha256:", "2 differences"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout does not contain %q:\n%s", want, r.stdout)
		}
	}

	r = runCLI(t, nil, "diff", "--json", a, b)
	r.check(t, 1)
	var rep diff.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if len(rep.Differences) != 2 || rep.Differences[0].Path != "config.Env[0]" || rep.Differences[1].Field != "content" {
		t.Errorf("--json differences: %+v", rep.Differences)
	}

	// An index against one of its platforms, restricted to it: identical.
	idx := specImage(t, spec(`["linux/amd64", "linux/arm64"]`, "dev", "x=1"))
	runCLI(t, nil, "diff", idx, a).check(t, 1)
	runCLI(t, nil, "diff", "--platform", "linux/amd64", idx, a).check(t, 0)

	// Inputs that cannot be compared, and usage errors: exit 2.
	runCLI(t, nil, "diff", a, filepath.Join(t.TempDir(), "missing")).check(t, 2, "imagewriter diff:")
	broken := filepath.Join(t.TempDir(), "broken")
	copyDir(t, a, broken)
	blobs, _ := filepath.Glob(filepath.Join(broken, "blobs", "sha256", "*"))
	for _, p := range blobs {
		if fi, _ := os.Stat(p); fi.Size() > 200 { // the layer
			os.Chmod(p, 0o644)
			os.WriteFile(p, []byte("not the layer"), 0o644)
		}
	}
	runCLI(t, nil, "diff", broken, b).check(t, 2)
	runCLI(t, nil, "diff", a).check(t, 2, "accepts 2 arg")
	runCLI(t, nil, "diff", "--platform", "nope", a, b).check(t, 2, "--platform")
}

// copyDir copies a layout (files and directories only).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
