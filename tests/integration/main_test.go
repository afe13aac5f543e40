// Package integration_test drives the imagewriter CLI, built once per run
// with `go build`, on the example image (examples/hello), and checks what it
// writes with tools nobody here wrote: umoci, skopeo, crane, regctl and
// podman (tests/checkers). A missing tool fails the test, never skips it
// (`make deps` installs them).
//
// The example is built the way `make example` builds it, by
// scripts/example.sh, in a copy of the checkout (go.mod, go.sum, the script
// and examples/hello), so that the tests never write into the repository.
//
//	go test ./tests/integration                  run everything (about a minute)
//	go test ./tests/integration -run Golden -update   rewrite the golden digests
package integration_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/example.txt from this build")

// workDir holds everything built once per run: the CLI and the example. It
// is searchable by everyone (0755), because one reproducibility build runs
// as nobody.
var workDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "imagewriter-integration-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the checkout this package lives in.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var cliOnce struct {
	sync.Once
	path string
	err  error
}

// imagewriter returns the CLI binary, built from this checkout on first use.
func imagewriter(t testing.TB) string {
	t.Helper()
	cliOnce.Do(func() {
		cliOnce.path, cliOnce.err = checkers.BuildImagewriter(filepath.Join(workDir, "bin"))
	})
	if cliOnce.err != nil {
		t.Fatal(cliOnce.err)
	}
	return cliOnce.path
}

// result is a finished CLI run.
type result struct {
	stdout, stderr string
	code           int
}

// runIW runs imagewriter with args in dir and returns what it printed and its
// exit code; it fails t only when the binary could not be started.
func runIW(t testing.TB, dir string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), imagewriter(t), args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("imagewriter %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustIW is runIW for runs that must succeed; it returns stdout.
func mustIW(t testing.TB, dir string, args ...string) string {
	t.Helper()
	r := runIW(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("imagewriter %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// checkoutFiles are what the example needs of the repository, besides the
// CLI: go.mod and go.sum (examples/hello/cmd/hello is a package of the main
// module), the script and the example.
var checkoutFiles = []string{"go.mod", "go.sum", "scripts/example.sh", "examples/hello"}

// copyCheckout copies checkoutFiles from the repository root to dst with
// normalized modes (0755 directories and executables, 0644 other files),
// leaving out examples/hello/build, which the script writes.
func copyCheckout(root, dst string) error {
	for _, name := range checkoutFiles {
		src := filepath.Join(root, filepath.FromSlash(name))
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if filepath.ToSlash(rel) == "examples/hello/build" {
				return filepath.SkipDir
			}
			out := filepath.Join(dst, rel)
			if d.IsDir() {
				return os.MkdirAll(out, 0o755)
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("%s: not a regular file", p)
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o644)
			if fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			return os.WriteFile(out, b, mode)
		})
		if err != nil {
			return fmt.Errorf("copy the checkout: %v", err)
		}
	}
	return nil
}

// The example's outputs, as scripts/example.sh names them under OUT.
const (
	layoutName = "hello"
	ociTar     = "hello-linux-amd64.oci.tar"
	dockerTar  = "hello-linux-amd64.docker.tar"
	tag        = "v1"
	fullName   = "example.com/hello:v1"
)

// platforms of the example, in index order.
var platforms = []string{"linux/amd64", "linux/arm64"}

// exampleBuild is the example built by scripts/example.sh in a copy of the
// checkout.
type exampleBuild struct {
	// root is the checkout copy; out is the script's OUT.
	root, out string
	// scriptOutput is what the script printed on stdout.
	scriptOutput string
	// single maps a platform to a layout of that platform alone, built by
	// the test from the same spec with --platform (umoci needs one: it does
	// not choose a platform from an index).
	single map[string]string
}

func (e *exampleBuild) layout() string    { return filepath.Join(e.out, layoutName) }
func (e *exampleBuild) ociTar() string    { return filepath.Join(e.out, ociTar) }
func (e *exampleBuild) dockerTar() string { return filepath.Join(e.out, dockerTar) }
func (e *exampleBuild) dir() string       { return filepath.Join(e.root, "examples", "hello") }

// hello is the path of the example binary for platform ("linux/amd64").
func (e *exampleBuild) hello(platform string) string {
	return filepath.Join(e.dir(), "build", strings.ReplaceAll(platform, "/", "_"), "hello")
}

var exampleOnce struct {
	sync.Once
	b   *exampleBuild
	err error
}

// example returns the example, built on first use.
func example(t testing.TB) *exampleBuild {
	t.Helper()
	iw := imagewriter(t)
	root := repoRoot(t)
	exampleOnce.Do(func() {
		exampleOnce.b, exampleOnce.err = buildExample(root, iw)
	})
	if exampleOnce.err != nil {
		t.Fatalf("build the example: %v", exampleOnce.err)
	}
	return exampleOnce.b
}

func buildExample(repo, iw string) (*exampleBuild, error) {
	root := filepath.Join(workDir, "checkout-a", "rules_imagewriter")
	if err := copyCheckout(repo, root); err != nil {
		return nil, err
	}
	b := &exampleBuild{root: root, out: filepath.Join(root, "out", "example"), single: map[string]string{}}
	cmd := exec.Command("bash", "scripts/example.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "IMAGEWRITER="+iw, "OUT="+b.out, "TZ=UTC", "GOMAXPROCS=8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("scripts/example.sh: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	b.scriptOutput = stdout.String()
	for _, p := range platforms {
		dst := filepath.Join(workDir, "single", strings.ReplaceAll(p, "/", "_"))
		cmd := exec.Command(iw, "build", "-f", filepath.Join(b.dir(), "image.json"), "-o", dst, "--platform", p)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s alone: %v\n%s", p, err, out)
		}
		b.single[p] = dst
	}
	return b, nil
}

// readFile reads a file or fails t.
func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blobPath is where a blob lives in a layout directory.
func blobPath(layout string, d digest.Digest) string {
	return filepath.Join(layout, "blobs", d.Algorithm().String(), d.Encoded())
}

// readBlob reads a blob of a layout and checks it against its descriptor.
func readBlob(t testing.TB, layout string, d ocispec.Descriptor) []byte {
	t.Helper()
	b := readFile(t, blobPath(layout, d.Digest))
	if got := digest.FromBytes(b); got != d.Digest || int64(len(b)) != d.Size {
		t.Fatalf("%s: blob %s has %d bytes, digest %s", layout, d.Digest, len(b), got)
	}
	return b
}

// decode unmarshals JSON or fails t.
func decode(t testing.TB, what string, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// graph is the decoded top of a layout: index.json's one entry, the image
// index it names (multi-platform) and each platform's manifest and config.
type graph struct {
	top       ocispec.Descriptor
	index     *ocispec.Index
	manifests map[string]ocispec.Descriptor // by platform
	manifest  map[string]ocispec.Manifest
	config    map[string]ocispec.Image
}

// readGraph reads a layout written by imagewriter: one index.json entry,
// either an image index or a single manifest.
func readGraph(t testing.TB, layout string) graph {
	t.Helper()
	var top ocispec.Index
	decode(t, "index.json", readFile(t, filepath.Join(layout, "index.json")), &top)
	if len(top.Manifests) != 1 {
		t.Fatalf("%s/index.json: %d entries, want 1", layout, len(top.Manifests))
	}
	g := graph{top: top.Manifests[0], manifests: map[string]ocispec.Descriptor{}, manifest: map[string]ocispec.Manifest{}, config: map[string]ocispec.Image{}}
	var ms []ocispec.Descriptor
	switch g.top.MediaType {
	case ocispec.MediaTypeImageIndex:
		g.index = new(ocispec.Index)
		decode(t, "index", readBlob(t, layout, g.top), g.index)
		ms = g.index.Manifests
	case ocispec.MediaTypeImageManifest:
		ms = []ocispec.Descriptor{g.top}
	default:
		t.Fatalf("%s/index.json: media type %q", layout, g.top.MediaType)
	}
	for _, md := range ms {
		var m ocispec.Manifest
		decode(t, "manifest "+md.Digest.String(), readBlob(t, layout, md), &m)
		var c ocispec.Image
		decode(t, "config "+m.Config.Digest.String(), readBlob(t, layout, m.Config), &c)
		p := c.OS + "/" + c.Architecture
		g.manifests[p], g.manifest[p], g.config[p] = md, m, c
	}
	return g
}

// fileEntry is a file (or directory, or link) of a tree or tar, for byte
// comparisons of whole outputs.
type fileEntry struct {
	Kind   string // "dir", "file", "symlink", "other"
	Mode   fs.FileMode
	Target string
	Data   []byte
}

// readTreeBytes lists every path under root with its bytes (no symlinks
// are followed).
func readTreeBytes(t testing.TB, root string) map[string]fileEntry {
	t.Helper()
	out := map[string]fileEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := fileEntry{Mode: fi.Mode()}
		switch {
		case fi.IsDir():
			e.Kind = "dir"
		case fi.Mode().IsRegular():
			e.Kind = "file"
			if e.Data, err = os.ReadFile(p); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Kind = "symlink"
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			e.Kind = "other"
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffFiles names every path whose presence, kind, mode, target or bytes
// differ between a and b, or returns "".
func diffFiles(a, b map[string]fileEntry) string {
	var paths []string
	for p := range a {
		paths = append(paths, p)
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var s strings.Builder
	for _, p := range paths {
		x, inA := a[p]
		y, inB := b[p]
		switch {
		case !inA:
			fmt.Fprintf(&s, "+ %s (%s)\n", p, y.Kind)
		case !inB:
			fmt.Fprintf(&s, "- %s (%s)\n", p, x.Kind)
		case x.Kind != y.Kind || x.Mode != y.Mode || x.Target != y.Target:
			fmt.Fprintf(&s, "~ %s: %s %v %q vs %s %v %q\n", p, x.Kind, x.Mode, x.Target, y.Kind, y.Mode, y.Target)
		case !bytes.Equal(x.Data, y.Data):
			fmt.Fprintf(&s, "~ %s: bytes differ (%s vs %s)\n", p, digest.FromBytes(x.Data), digest.FromBytes(y.Data))
		}
	}
	return s.String()
}

// tarMember is one member of an archive.
type tarMember struct {
	Header tar.Header
	Data   []byte
}

// readTar reads every member of an uncompressed tar, in order.
func readTar(t testing.TB, p string) []tarMember {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ms []tarMember
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ms
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", p, h.Name, err)
		}
		ms = append(ms, tarMember{Header: *h, Data: b})
	}
}
