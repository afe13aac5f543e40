package integration_test

import (
	"debug/buildinfo"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// TestReproducible builds the example a second time, from another copy of
// the checkout at another path (with a space in it), with everything that
// must not matter changed, and requires byte-identical outputs: the hello
// binaries, the base layout, the image layout and both archives.
//
//	                      first build (example)     second build
//	checkout path         .../checkout-a/rules_imagewriter   .../checkout b/elsewhere/rules imagewriter
//	input file mtimes     as copied (now)           2001-02-03
//	umask                 the test's (022)          077
//	TZ                    UTC                       America/New_York, Asia/Kolkata
//	GOMAXPROCS            8                         1
//	user                  the test's (root)         nobody:nogroup (setpriv)
func TestReproducible(t *testing.T) {
	t.Parallel()
	a := example(t)
	iw := imagewriter(t)
	setpriv := nobodyCommand(t)

	parent := filepath.Join(workDir, "checkout b", "elsewhere")
	root := filepath.Join(parent, "rules imagewriter")
	if err := copyCheckout(repoRoot(t), root); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(workDir, "checkout b"), parent, filepath.Dir(iw)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}

	// The binaries, with the flags scripts/example.sh uses, as this user
	// (nobody has no Go build cache), with umask 077.
	for _, p := range platforms {
		arch := strings.TrimPrefix(p, "linux/")
		cmd := exec.CommandContext(t.Context(), "sh", "-c", `umask 077 && exec "$0" "$@"`, checkers.GoCommand(),
			"build", "-trimpath", "-buildvcs=false", "-ldflags=-buildid=",
			"-o", "examples/hello/build/linux_"+arch+"/hello", "./examples/hello/cmd/hello")
		cmd.Dir = root
		cmd.Env = append(withoutEnv(os.Environ(), "GOFLAGS", "GOEXPERIMENT"),
			"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOAMD64=v1", "GOARM64=v8.0",
			"TZ=America/New_York", "GOMAXPROCS=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build hello for %s: %v\n%s", p, err, out)
		}
	}
	if setpriv != nil {
		chownTree(t, root, "nobody", "nogroup")
	}

	// The image, as scripts/example.sh builds it, as nobody.
	for _, args := range [][]string{
		{"build", "-f", "examples/hello/base.json", "-o", "examples/hello/build/base"},
		{"build", "-f", "examples/hello/image.json", "-o", "out/example/hello"},
		{"build", "-f", "examples/hello/image.json", "-o", "out/example/" + ociTar, "--platform", "linux/amd64", "--format", "oci-archive"},
		{"build", "-f", "examples/hello/image.json", "-o", "out/example/" + dockerTar, "--platform", "linux/amd64", "--format", "docker-archive"},
	} {
		argv := append(append(setpriv, "sh", "-c", `umask 077 && exec "$0" "$@"`, iw), args...)
		cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
		cmd.Dir = root
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + root, "TZ=Asia/Kolkata", "GOMAXPROCS=1", "LANG=C"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}

	for _, p := range platforms {
		rel := filepath.Join("examples/hello/build", strings.ReplaceAll(p, "/", "_"), "hello")
		if d1, d2 := digest.FromBytes(readFile(t, filepath.Join(a.root, rel))), digest.FromBytes(readFile(t, filepath.Join(root, rel))); d1 != d2 {
			t.Errorf("%s differs between the two builds: %s, then %s", rel, d1, d2)
		}
	}
	// Whole trees: every path, type, mode and byte of what imagewriter
	// wrote (the directories holding the outputs are the umask's business).
	for _, dir := range []string{"examples/hello/build/base", "out/example"} {
		want := readTreeBytes(t, filepath.Join(a.root, dir))
		got := readTreeBytes(t, filepath.Join(root, dir))
		if dir == "out/example" {
			delete(want, ".")
			delete(got, ".")
		}
		if d := diffFiles(want, got); d != "" {
			t.Errorf("%s differs between the two builds (-first +second):\n%s", dir, d)
		}
	}
}

// nobodyCommand returns the command prefix that runs a command as
// nobody:nogroup, or nil (with a log line) when the test does not run as
// root and so cannot switch users.
func nobodyCommand(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Logf("not root: the second build runs as this user, not as nobody")
		return nil
	}
	for _, g := range []string{"nogroup", "nobody"} {
		if _, err := user.LookupGroup(g); err == nil {
			return []string{"setpriv", "--reuid=nobody", "--regid=" + g, "--clear-groups", "--"}
		}
	}
	t.Fatalf("no group nogroup or nobody to run the second build as")
	return nil
}

// chownTree gives every path under root to user and group.
func chownTree(t *testing.T, root, owner, group string) {
	t.Helper()
	u, err := user.Lookup(owner)
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		if g, err = user.LookupGroup(owner); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	err = filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// withoutEnv drops the variables names from env.
func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

const goldenFile = "testdata/golden/example.txt"

// TestGolden compares the example's digests with the checked-in ones. A
// moved golden digest is a breaking change: rewrite them only on purpose,
// with `go test ./tests/integration -run TestGolden -update`, and say why
// in the commit. The hello binaries (and so everything above them) depend
// on the Go version, which the file records.
func TestGolden(t *testing.T) {
	t.Parallel()
	ex := example(t)
	got := goldenOf(t, ex)
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenFile)
		return
	}
	want := string(readFile(t, goldenFile))
	if got == want {
		return
	}
	wantLines, gotLines := strings.Split(want, "\n"), strings.Split(got, "\n")
	var d strings.Builder
	for i := 0; i < max(len(wantLines), len(gotLines)); i++ {
		var w, g string
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if w != g {
			fmt.Fprintf(&d, "- %s\n+ %s\n", w, g)
		}
	}
	t.Errorf("the example's digests moved from %s (-golden +got):\n%s"+
		"If the change is intended (a new Go version moves the hello binaries; a writer change is a breaking change), "+
		"run go test ./tests/integration -run TestGolden -update and explain it in the commit.", goldenFile, d.String())
}

// goldenOf lists the example's digests, one "what digest" line each.
func goldenOf(t *testing.T, ex *exampleBuild) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# Golden digests of examples/hello as scripts/example.sh builds it (make example).\n")
	b.WriteString("# Rewrite only on purpose: go test ./tests/integration -run TestGolden -update\n")
	bi, err := buildinfo.ReadFile(ex.hello("linux/amd64"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "go %s\n", bi.GoVersion)
	for _, p := range platforms {
		fmt.Fprintf(&b, "hello %s %s\n", p, digest.FromBytes(readFile(t, ex.hello(p))))
	}
	base := readGraph(t, filepath.Join(ex.dir(), "build", "base"))
	fmt.Fprintf(&b, "base-index %s\n", base.top.Digest)
	g := readGraph(t, ex.layout())
	fmt.Fprintf(&b, "index %s\n", g.top.Digest)
	for _, p := range platforms {
		fmt.Fprintf(&b, "manifest %s %s\n", p, g.manifests[p].Digest)
		fmt.Fprintf(&b, "config %s %s\n", p, g.manifest[p].Config.Digest)
	}
	fmt.Fprintf(&b, "oci-archive linux/amd64 %s\n", digest.FromBytes(readFile(t, ex.ociTar())))
	fmt.Fprintf(&b, "docker-archive linux/amd64 %s\n", digest.FromBytes(readFile(t, ex.dockerTar())))
	return b.String()
}
