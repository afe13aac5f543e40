// Package repro_test checks every example with the tools of issue 6, run as
// the built CLI: `imagewriter rebuild-check` passes on each of its build
// specs, `imagewriter unpack` gives the same tree as `umoci unpack` for
// each platform, `imagewriter flatten` gives one layer that unpacks to that
// tree too, and `imagewriter diff` finds the example identical across
// output forms.
//
// The examples are prepared the way `make example` prepares them
// (scripts/example.sh, which builds their binaries and base images), in a
// copy of the checkout, so the tests never write into the repository. An
// example whose specs cannot be built that way fails here: give it its
// setup in scripts/example.sh.
package repro_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// setup is built once per run: the CLI and a prepared copy of the checkout.
var setup struct {
	sync.Once
	dir, cli, checkout string
	err                error
}

func prepare(t *testing.T) (cli, checkout string) {
	t.Helper()
	setup.Do(func() {
		setup.dir, setup.err = os.MkdirTemp("", "imagewriter-repro-")
		if setup.err != nil {
			return
		}
		root := repoRoot(t)
		if setup.cli, setup.err = checkers.BuildImagewriter(filepath.Join(setup.dir, "bin")); setup.err != nil {
			return
		}
		setup.checkout = filepath.Join(setup.dir, "checkout")
		for _, name := range []string{"go.mod", "go.sum", "scripts", "examples"} {
			if err := copyPath(filepath.Join(root, name), filepath.Join(setup.checkout, name)); err != nil {
				setup.err = err
				return
			}
		}
		cmd := exec.Command("bash", "scripts/example.sh")
		cmd.Dir = setup.checkout
		cmd.Env = append(os.Environ(), "IMAGEWRITER="+setup.cli, "OUT="+filepath.Join(setup.dir, "out"))
		if out, err := cmd.CombinedOutput(); err != nil {
			setup.err = fmt.Errorf("scripts/example.sh: %v\n%s", err, out)
		}
	})
	if setup.err != nil {
		t.Fatal(setup.err)
	}
	return setup.cli, setup.checkout
}

func TestMain(m *testing.M) {
	code := m.Run()
	if setup.dir != "" {
		os.RemoveAll(setup.dir)
	}
	os.Exit(code)
}

// copyPath copies a file or tree, leaving out build outputs (build/
// directories), which the script makes.
func copyPath(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && d.Name() == "build" && p != src:
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, b, fi.Mode().Perm())
	})
}

// specs lists every build spec of every example: the JSON and YAML files
// of examples/NAME/ that parse as one, in name order (base.json before
// image.json).
func specs(t *testing.T, checkout string) []string {
	t.Helper()
	var out []string
	dirs, err := os.ReadDir(filepath.Join(checkout, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(checkout, "examples", d.Name()))
		for _, f := range files {
			ext := filepath.Ext(f.Name())
			if f.IsDir() || (ext != ".json" && ext != ".yaml" && ext != ".yml") {
				continue
			}
			p := filepath.Join(checkout, "examples", d.Name(), f.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := build.ParseSpecFile(p, b); err == nil {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no build spec found under examples/")
	}
	slices.Sort(out)
	return out
}

func run(t *testing.T, cli, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), cli, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String() + stderr.String(), exit.ExitCode()
	case err != nil:
		t.Fatalf("imagewriter %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String() + stderr.String(), 0
}

func name(checkout, spec string) string {
	rel, _ := filepath.Rel(filepath.Join(checkout, "examples"), spec)
	return filepath.ToSlash(rel)
}

// TestRebuildCheckExamples: every example builds to the same digests under
// rebuild-check's changed conditions.
func TestRebuildCheckExamples(t *testing.T) {
	cli, checkout := prepare(t)
	for _, spec := range specs(t, checkout) {
		t.Run(name(checkout, spec), func(t *testing.T) {
			out, code := run(t, cli, filepath.Dir(spec), "rebuild-check", "-f", spec)
			if code != 0 || !strings.Contains(out, "reproducible: image sha256:") {
				t.Errorf("rebuild-check -f %s: exit %d\n%s", spec, code, out)
			}
		})
	}
}

// TestUnpackExamples: for each platform of each example, imagewriter's
// unpack equals umoci's, and the flattened layer, as an image of its own,
// unpacks to the same tree.
func TestUnpackExamples(t *testing.T) {
	cli, checkout := prepare(t)
	for _, spec := range specs(t, checkout) {
		b, _ := os.ReadFile(spec)
		sf, err := build.ParseSpecFile(spec, b)
		if err != nil {
			t.Fatal(err)
		}
		platforms := sf.Platforms
		if len(platforms) == 0 {
			platforms = []string{"linux/amd64"}
		}
		for _, p := range platforms {
			t.Run(name(checkout, spec)+"/"+p, func(t *testing.T) {
				dir := t.TempDir()
				img := filepath.Join(dir, "layout")
				if out, code := run(t, cli, filepath.Dir(spec), "build", "-f", spec, "-o", img, "--platform", p, "--tag", "example.com/x:test"); code != 0 {
					t.Fatalf("build: %s", out)
				}
				want := checkers.Tree(t, checkers.UmociUnpack(t, img, "test"))
				rootfs := filepath.Join(dir, "rootfs")
				if out, code := run(t, cli, dir, "unpack", img, rootfs); code != 0 {
					t.Fatalf("unpack: %s", out)
				}
				if d := checkers.DiffTrees(want, checkers.Tree(t, rootfs)); d != "" {
					t.Errorf("imagewriter unpack vs umoci (-umoci +imagewriter):\n%s", d)
				}
				// flatten, then the flat layer as the only layer of an image.
				if out, code := run(t, cli, dir, "flatten", img, "-o", filepath.Join(dir, "flat.tar")); code != 0 {
					t.Fatalf("flatten: %s", out)
				}
				os.WriteFile(filepath.Join(dir, "flat.json"), []byte(`{"layers": [{"entries": [{"type": "tar", "source": "flat.tar", "preserveMtime": true, "preserveNames": true}]}]}`), 0o644)
				flat := filepath.Join(dir, "flat")
				if out, code := run(t, cli, dir, "build", "-f", filepath.Join(dir, "flat.json"), "-o", flat, "--tag", "example.com/x:test"); code != 0 {
					t.Fatalf("build the flat image: %s", out)
				}
				if d := checkers.DiffTrees(want, checkers.Tree(t, checkers.UmociUnpack(t, flat, "test"))); d != "" {
					t.Errorf("flattened vs layered (-layered +flat):\n%s", d)
				}
			})
		}
	}
}

// TestDiffExampleForms: the example's layout and its archives hold the
// same linux/amd64 image; diff says so, and names a changed env var.
func TestDiffExampleForms(t *testing.T) {
	cli, checkout := prepare(t)
	out := filepath.Join(setup.dir, "out")
	layout := filepath.Join(out, "hello")
	for _, other := range []string{"hello-linux-amd64.oci.tar", "hello-linux-amd64.docker.tar"} {
		if o, code := run(t, cli, out, "diff", "--platform", "linux/amd64", layout, filepath.Join(out, other)); code != 0 {
			t.Errorf("diff layout %s: exit %d\n%s", other, code, o)
		}
	}
	spec := filepath.Join(checkout, "examples", "hello", "image.json")
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(filepath.Dir(spec), "changed.json")
	os.WriteFile(changed, bytes.Replace(b, []byte("HELLO_MODE=example"), []byte("HELLO_MODE=changed"), 1), 0o644)
	defer os.Remove(changed)
	img := filepath.Join(t.TempDir(), "changed")
	if o, code := run(t, cli, filepath.Dir(spec), "build", "-f", changed, "-o", img); code != 0 {
		t.Fatal(o)
	}
	o, code := run(t, cli, out, "diff", layout, img)
	if code != 1 || strings.Count(o, `config config.Env[2]: "HELLO_MODE=example" → "HELLO_MODE=changed"`) != 2 || !strings.Contains(o, "2 differences") {
		t.Errorf("diff of a changed env var (both platforms): exit %d\n%s", code, o)
	}
}
