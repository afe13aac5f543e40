package registry_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// TestPushSurvivesFaults pushes through a proxy that misbehaves once:
// each push must succeed, and the image must be whole.
func TestPushSurvivesFaults(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	l := buildLayout(t, imageSpec{files: []fileSpec{{"/big", 3 << 20, 21}, {"/small", 2000, 22}}})
	want := rootDigest(t, l)
	big := func(r *http.Request) bool { return bigPut(r, 1<<20) }
	for _, tc := range []struct {
		name      string
		match     func(*http.Request) bool
		act       func(http.ResponseWriter, *http.Request)
		wantInErr string
	}{
		{"drop mid-blob", big, dropAfter(1 << 20), "retrying sha256:"},
		{"500 once", big, answer(500), "500"},
		{"429 with Retry-After", big, answer(429, "Retry-After", "1"), "in 1.0s"},
		{"503 on upload start", func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/")
		}, answer(503), ""},
		{"500 on manifest", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
		}, answer(500), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, fired := once(tc.match, tc.act)
			proxy := faultProxy(t, reg.Host, f)
			repo := strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			repo = strings.NewReplacer("(", "", ")", "").Replace(repo)
			r := mustIW(t, nil, "push", l, proxy+"/"+repo+":v1", "--progress", "plain")
			if fired.Load() == 0 {
				t.Fatalf("the fault never fired")
			}
			if tc.wantInErr != "" && !strings.Contains(r.stderr, tc.wantInErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantInErr, r.stderr)
			}
			if got := strings.TrimSpace(r.stdout); got != proxy+"/"+repo+":v1@"+want {
				t.Errorf("stdout = %q", got)
			}
			checkers.Run(t, "", "crane", "validate", "--remote", reg.Host+"/"+repo+":v1", "--insecure")
		})
	}
}

// TestPushFailsCleanly: a registry that always fails uploads: push fails
// with a clear error, and the tag is not created.
func TestPushFailsCleanly(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	l := buildLayout(t, imageSpec{files: []fileSpec{{"/big", 2 << 20, 31}}})
	proxy := faultProxy(t, reg.Host, func(w http.ResponseWriter, r *http.Request) bool {
		if !isBlobPut(r) {
			return false
		}
		answer(500)(w, r)
		return true
	})
	r := iw(t, nil, "push", l, proxy+"/broken:v1", "--progress", "plain")
	if r.code != 1 {
		t.Fatalf("push through an always-failing proxy: %s", r)
	}
	last := strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimSpace(r.stderr), "\n")+1:])
	for _, want := range []string{"imagewriter push:", "500", "gave up after 5 tries", "broken: push sha256:"} {
		if !strings.Contains(last, want) {
			t.Errorf("error line lacks %q: %s", want, last)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	if s := manifestStatus(t, reg.Host, "broken", "v1"); s != http.StatusNotFound {
		t.Errorf("HEAD broken:v1 after a failed push = %d, want 404", s)
	}
}

// TestPullResumes: the connection drops in the middle of a layer download;
// the pull resumes (a Range request) and the layout is whole.
func TestPullResumes(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	l := buildLayout(t, imageSpec{files: []fileSpec{{"/big", 3 << 20, 41}}})
	mustIW(t, nil, "push", l, reg.Host+"/resume:v1")
	var (
		mu     sync.Mutex
		ranges []string
		cuts   atomic.Int32
	)
	next := reverseProxy(reg.Host)
	layer := layerDigests(t, l)[0]
	proxy := faultProxy(t, reg.Host, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+layer) {
			return false
		}
		if rg := r.Header.Get("Range"); rg != "" {
			mu.Lock()
			ranges = append(ranges, rg)
			mu.Unlock()
			return false
		}
		if cuts.Add(1) == 1 {
			// Forward, but break the connection after 1 MiB of the body.
			next.ServeHTTP(&cuttingWriter{ResponseWriter: w, left: 1 << 20}, r)
			return true
		}
		return false
	})
	out := filepath.Join(t.TempDir(), "pulled")
	pr := mustIW(t, nil, "pull", proxy+"/resume:v1", "-o", out)
	t.Log(pr.stderr)
	if d := cmp.Diff(blobFiles(t, l), blobFiles(t, out)); d != "" {
		t.Errorf("pulled blobs (-pushed +pulled):\n%s", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ranges) == 0 {
		t.Errorf("no Range request: the download restarted instead of resuming")
	}
}

// TestPullTamperedBlob: a registry serving a layer whose bytes do not match
// its digest: pull fails naming the blob, and writes nothing.
func TestPullTamperedBlob(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	l := buildLayout(t, imageSpec{files: []fileSpec{{"/data", 100 << 10, 51}}})
	mustIW(t, nil, "push", l, reg.Host+"/tampered:v1")
	layer := layerDigests(t, l)[0]
	hex := strings.TrimPrefix(layer, "sha256:")
	data := filepath.Join(reg.Dir, "data", "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff // same size, other bytes
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	out := filepath.Join(parent, "pulled")
	r := iw(t, nil, "pull", reg.Host+"/tampered:v1", "-o", out)
	if r.code != 1 || !strings.Contains(r.stderr, "digest mismatch") || !strings.Contains(r.stderr, layer) {
		t.Errorf("pull of a tampered layer: %s", r)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("a failed pull left %v in the output's directory", names)
	}
}

// TestAuth: an htpasswd registry. Without credentials push fails saying
// so; with a Docker config (or $REGISTRY_AUTH_FILE) it succeeds; wrong
// ones are reported as rejected; no output ever holds a secret.
func TestAuth(t *testing.T) {
	const user, password = "builder", "pa55-w0rd-for-tests"
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{Htpasswd: checkers.Htpasswd(t, user, password)})
	l := buildLayout(t, imageSpec{files: []fileSpec{{"/x", 5000, 61}}})
	ref := reg.Host + "/private:v1"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	wrong := base64.StdEncoding.EncodeToString([]byte(user + ":not-the-password"))
	writeConfig := func(auth string) string {
		dir := t.TempDir()
		cfg := `{"auths":{"` + reg.Host + `":{"auth":"` + auth + `"}}}`
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	var runs []result

	r := iw(t, nil, "push", l, ref)
	runs = append(runs, r)
	if r.code != 1 || !strings.Contains(r.stderr, "authentication required") || !strings.Contains(r.stderr, "no credentials for "+reg.Host) {
		t.Errorf("push without credentials: %s", r)
	}

	bad := writeConfig(wrong)
	r = iw(t, []string{"DOCKER_CONFIG=" + bad}, "push", l, ref)
	runs = append(runs, r)
	if r.code != 1 || !strings.Contains(r.stderr, "were rejected") {
		t.Errorf("push with wrong credentials: %s", r)
	}

	good := writeConfig(basic)
	r = iw(t, []string{"DOCKER_CONFIG=" + good}, "push", l, ref)
	runs = append(runs, r)
	if r.code != 0 {
		t.Errorf("push with DOCKER_CONFIG: %s", r)
	}
	r = iw(t, []string{"REGISTRY_AUTH_FILE=" + filepath.Join(good, "config.json")}, "push", l, reg.Host+"/private:v2")
	runs = append(runs, r)
	if r.code != 0 {
		t.Errorf("push with REGISTRY_AUTH_FILE: %s", r)
	}
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".docker"), 0o755)
	os.Rename(filepath.Join(good, "config.json"), filepath.Join(home, ".docker", "config.json"))
	out := filepath.Join(t.TempDir(), "pulled")
	r = iw(t, []string{"HOME=" + home}, "pull", ref, "-o", out)
	runs = append(runs, r)
	if r.code != 0 {
		t.Errorf("pull with ~/.docker/config.json: %s", r)
	}
	// Wrong credentials first in REGISTRY_AUTH_FILE win over good ones.
	r = iw(t, []string{"HOME=" + home, "REGISTRY_AUTH_FILE=" + filepath.Join(bad, "config.json")}, "pull", ref, "-o", out)
	runs = append(runs, r)
	if r.code != 1 || !strings.Contains(r.stderr, "rejected") {
		t.Errorf("pull with wrong credentials in REGISTRY_AUTH_FILE: %s", r)
	}
	assertNoSecrets(t, runs, password, basic, wrong, "not-the-password")
}

// cuttingWriter fails writes after left bytes, which makes the reverse
// proxy abort the connection mid-body.
type cuttingWriter struct {
	http.ResponseWriter
	left int
}

func (c *cuttingWriter) Write(b []byte) (int, error) {
	if len(b) > c.left {
		n, _ := c.ResponseWriter.Write(b[:c.left])
		c.left = 0
		c.ResponseWriter.(http.Flusher).Flush()
		_ = n
		panic(http.ErrAbortHandler)
	}
	c.left -= len(b)
	return c.ResponseWriter.Write(b)
}

func (c *cuttingWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

// TestPushCorruptBlob: a layout blob whose bytes do not match its digest.
// Push streams blobs unverified (no second hash on the client), so the
// registry's own check must refuse it: push fails naming the blob, and the
// tag is not created.
func TestPushCorruptBlob(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	l := buildLayout(t, imageSpec{files: []fileSpec{{"/data", 100 << 10, 71}}})
	layer := layerDigests(t, l)[0]
	p := filepath.Join(l, "blobs", "sha256", strings.TrimPrefix(layer, "sha256:"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x01
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := iw(t, nil, "push", l, reg.Host+"/corrupt:v1")
	if r.code != 1 || !strings.Contains(r.stderr, layer) || !strings.Contains(r.stderr, "digest invalid") {
		t.Errorf("push of a corrupt blob: %s", r)
	}
	if s := manifestStatus(t, reg.Host, "corrupt", "v1"); s != http.StatusNotFound {
		t.Errorf("HEAD corrupt:v1 = %d, want 404", s)
	}
}

// TestPullRefusesToClobber: -o naming a directory that holds other things
// is refused before anything is downloaded; an existing layout is replaced.
func TestPullRefusesToClobber(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	l := buildLayout(t, imageSpec{files: []fileSpec{{"/x", 1000, 91}}})
	mustIW(t, nil, "push", l, reg.Host+"/clobber:v1")
	dir := t.TempDir()
	keep := filepath.Join(dir, "precious.txt")
	os.WriteFile(keep, []byte("mine"), 0o644)
	r := iw(t, nil, "pull", reg.Host+"/clobber:v1", "-o", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "not replacing it") {
		t.Errorf("pull over a non-layout directory: %s", r)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Errorf("the directory's file was touched: %q, %v", b, err)
	}
	out := filepath.Join(t.TempDir(), "layout")
	mustIW(t, nil, "pull", reg.Host+"/clobber:v1", "-o", out)
	mustIW(t, nil, "pull", reg.Host+"/clobber:v1", "-o", out) // replaces its own layout
	if got := rootDigest(t, out); got != rootDigest(t, l) {
		t.Errorf("re-pulled layout has %s", got)
	}
}
