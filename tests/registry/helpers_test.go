// Package registry_test drives `imagewriter push` and `pull` against the
// real distribution registry (v3) on 127.0.0.1, and checks the results with
// crane and skopeo. Faults come from a loopback reverse proxy in the test.
// Every test group starts its own registry (checkers.NewRegistry), stopped
// by PID at cleanup.
package registry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// imagewriter is the binary under test, built once by TestMain.
var imagewriter string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "registry-test-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if imagewriter, err = checkers.BuildImagewriter(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
	// maxRSS is the peak resident set size in bytes, sampled every 10ms
	// from /proc (rusage's ru_maxrss would include the test process's own
	// peak: Linux carries a process's pre-exec peak across exec, and
	// os/exec starts children sharing the parent's memory).
	maxRSS int64
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// iw runs imagewriter with a clean environment: HOME is an empty
// directory, so no credentials are found unless env names some.
func iw(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), imagewriter, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var peak atomic.Int64
	err := cmd.Start()
	if err == nil {
		done := make(chan struct{})
		go func() { // VmHWM: the peak RSS of the process's memory since exec
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
			for {
				if hwm := vmHWM(status); hwm > peak.Load() {
					peak.Store(hwm)
				}
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
		}()
		err = cmd.Wait()
		close(done)
	}
	r := result{stdout: out.String(), stderr: errb.String(), maxRSS: peak.Load()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("imagewriter %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// vmHWM reads VmHWM (bytes) from a /proc/PID/status file; 0 if it cannot.
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib)
			return kib << 10
		}
	}
	return 0
}

// mustIW runs imagewriter and fails the test unless it exits 0.
func mustIW(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := iw(t, env, args...)
	if r.code != 0 {
		t.Fatalf("imagewriter %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// randomFile writes n bytes that do not compress, from seed, 1 MiB at a
// time.
func randomFile(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n > 0 {
		b := buf[:min(n, len(buf))]
		for i := 0; i < len(b); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < len(b); j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		n -= len(b)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// imageSpec describes a test image for `imagewriter build`.
type imageSpec struct {
	platforms []string
	// files are path -> size of incompressible content, one layer each
	// (in path order of this slice).
	files []fileSpec
	// base is a layout directory to build on ("" for none).
	base string
	// compression is "gzip" (""), "zstd" or "none".
	compression string
}

type fileSpec struct {
	path string
	size int
	seed uint64
}

// buildLayout builds spec into a layout directory and returns it.
func buildLayout(t *testing.T, spec imageSpec) string {
	t.Helper()
	dir := t.TempDir()
	var layers []map[string]any
	for i, f := range spec.files {
		src := filepath.Join(dir, fmt.Sprintf("src-%d", i))
		randomFile(t, src, f.size, f.seed)
		layers = append(layers, map[string]any{"entries": []any{
			map[string]any{"type": "file", "path": f.path, "source": src},
		}})
	}
	s := map[string]any{"layers": layers, "config": map[string]any{"cmd": []string{"/bin/true"}}}
	if len(spec.platforms) > 0 {
		s["platforms"] = spec.platforms
	}
	if spec.base != "" {
		s["base"] = map[string]any{"path": spec.base}
	}
	if spec.compression != "" {
		s["compression"] = map[string]any{"algorithm": spec.compression}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "layout")
	mustIW(t, nil, "build", "-f", specPath, "-o", out)
	return out
}

// ociIndex is the part of an index.json the tests read.
type ociIndex struct {
	Manifests []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Platform  *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
		} `json:"platform"`
		Annotations map[string]string `json:"annotations"`
	} `json:"manifests"`
}

func readIndex(t *testing.T, path string) ociIndex {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx ociIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return idx
}

// rootDigest is the digest of the only image of a layout.
func rootDigest(t *testing.T, layout string) string {
	t.Helper()
	idx := readIndex(t, filepath.Join(layout, "index.json"))
	if len(idx.Manifests) != 1 {
		t.Fatalf("%s: %d images in index.json, want 1", layout, len(idx.Manifests))
	}
	return idx.Manifests[0].Digest
}

// blobFiles maps blob file names (sha256/HEX) to their bytes.
func blobFiles(t *testing.T, layout string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	root := filepath.Join(layout, "blobs")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// layerDigests lists the layer digests of every manifest in a layout.
func layerDigests(t *testing.T, layout string) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, b := range blobFiles(t, layout) {
		var m struct {
			MediaType string `json:"mediaType"`
			Layers    []struct {
				Digest string `json:"digest"`
			} `json:"layers"`
		}
		if json.Unmarshal(b, &m) != nil || m.MediaType != "application/vnd.oci.image.manifest.v1+json" {
			continue
		}
		for _, l := range m.Layers {
			if !seen[l.Digest] {
				seen[l.Digest] = true
				out = append(out, l.Digest)
			}
		}
	}
	return out
}

// blobGETs counts GET requests for blobs of digest (any repository).
func blobGETs(t *testing.T, reg *checkers.Registry, digest string) int {
	t.Helper()
	n := 0
	for _, q := range reg.Requests(t) {
		if q.Method == http.MethodGet && strings.Contains(q.Target, "/blobs/"+digest) {
			n++
		}
	}
	return n
}

// uploadsOf counts completed uploads of digest.
func uploadsOf(t *testing.T, reg *checkers.Registry, digest string) int {
	t.Helper()
	n := 0
	for _, q := range reg.Requests(t) {
		if q.IsBlobUpload() && (strings.Contains(q.Target, url.QueryEscape(digest)) || strings.Contains(q.Target, digest)) {
			n++
		}
	}
	return n
}

// manifestStatus asks the registry directly (no proxy) for a tag.
func manifestStatus(t *testing.T, host, repo, ref string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// fault decides, per request, whether the proxy misbehaves. It returns
// true when it has answered the request itself.
type fault func(w http.ResponseWriter, r *http.Request) bool

// faultProxy starts a reverse proxy to the registry on 127.0.0.1 that lets
// fault answer first. The Host header is kept, so the registry's upload
// Locations point at the proxy.
func faultProxy(t *testing.T, registryHost string, f fault) string {
	t.Helper()
	rp := reverseProxy(registryHost)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f != nil && f(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// reverseProxy forwards to the registry, keeping the Host header.
func reverseProxy(registryHost string) http.Handler {
	target := &url.URL{Scheme: "http", Host: registryHost}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// isBlobPut: the request that carries an upload's bytes.
func isBlobPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/")
}

// bigPut: an upload of at least min bytes (a layer, not a config).
func bigPut(r *http.Request, min int64) bool { return isBlobPut(r) && r.ContentLength >= min }

// once makes a fault fire on the first matching request only.
func once(match func(*http.Request) bool, act func(w http.ResponseWriter, r *http.Request)) (fault, *atomic.Int32) {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) || n.Add(1) != 1 {
			return false
		}
		act(w, r)
		return true
	}, &n
}

// dropAfter reads part of the request body, then closes the connection
// without an answer.
func dropAfter(n int64) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, n)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		conn.Close()
	}
}

// answer drains the request body and answers code with headers.
func answer(code int, header ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"errors":[{"code":"UNKNOWN","message":"injected by the test proxy: %d"}]}`, code)
	}
}

// assertNoSecrets fails when any output of any run holds a secret.
func assertNoSecrets(t *testing.T, runs []result, secrets ...string) {
	t.Helper()
	for _, r := range runs {
		for _, s := range secrets {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
				t.Errorf("a secret (%d chars) appears in the output:\n%s", len(s), r)
			}
		}
	}
}
