package checkers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// registryStartTimeout bounds how long NewRegistry waits for GET /v2/.
const registryStartTimeout = 30 * time.Second

// RegistryOptions configures NewRegistry and StartRegistry. The zero value is
// a registry without authentication.
type RegistryOptions struct {
	// Htpasswd is the path of an htpasswd file with bcrypt entries (see
	// Htpasswd); when set, every request needs HTTP basic auth.
	Htpasswd string
	// Realm is the basic-auth realm; default "checkers".
	Realm string
}

// Registry is a running distribution registry (v3, the `registry` binary)
// serving plain HTTP on 127.0.0.1, with filesystem storage in a temporary
// directory. Clients need: crane --insecure (crane treats 127.0.0.1 as
// insecure by itself), skopeo --dest-tls-verify=false / --src-tls-verify=false,
// regctl --host reg=HOST,tls=disabled.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of image references.
	Host string
	// Dir holds config.yml, the blob store (data/) and the two logs.
	Dir string
	// Log is the registry's own log (logrus text, level info).
	Log string
	// AccessLog is the access log in Apache combined format, one line per
	// request; Requests, BlobUploads and BlobMounts parse it.
	AccessLog string
}

// StartRegistry starts a registry as NewRegistry does and returns its
// "127.0.0.1:PORT".
func StartRegistry(t testing.TB, opts RegistryOptions) string {
	t.Helper()
	return NewRegistry(t, opts).Host
}

// NewRegistry starts a registry on 127.0.0.1 at a free port and waits until
// GET /v2/ answers (401 counts when auth is on). A t.Cleanup kills the process
// (by its PID, only that one) and waits for it.
func NewRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := Need(t, "registry")
	dir := t.TempDir()
	r := &Registry{
		Dir:       dir,
		Log:       filepath.Join(dir, "registry.log"),
		AccessLog: filepath.Join(dir, "access.log"),
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(registryConfig(dir, opts)), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(r.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	accessf, err := os.Create(r.AccessLog)
	if err != nil {
		t.Fatal(err)
	}
	defer accessf.Close()

	// Not tied to t.Context: the registry must outlive the test function
	// into the cleanups of later helpers, and is stopped by our own cleanup.
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Dir = dir
	cmd.Stdout = accessf // the access log goes to stdout
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("registry serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Kill() // gone already if it exited: the error is ESRCH
		<-exited
	}
	t.Cleanup(stop)

	host, err := waitRegistry(r.Log, opts.Htpasswd != "", exited)
	if err != nil {
		stop()
		log, _ := os.ReadFile(r.Log)
		t.Fatalf("registry did not start: %v\nlog %s:\n%s", err, r.Log, indent(string(log)))
	}
	r.Host = host
	return r
}

// registryConfig is the registry's config.yml for state directory dir.
func registryConfig(dir string, opts RegistryOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  redirect:
    disable: true
http:
  addr: 127.0.0.1:0
  secret: checkers-local-only
`, yamlQuote(filepath.Join(dir, "data")))
	if opts.Htpasswd != "" {
		realm := opts.Realm
		if realm == "" {
			realm = "checkers"
		}
		fmt.Fprintf(&b, `auth:
  htpasswd:
    realm: %s
    path: %s
`, yamlQuote(realm), yamlQuote(opts.Htpasswd))
	}
	return b.String()
}

// yamlQuote quotes s as a YAML double-quoted scalar (JSON string syntax is a
// subset of it).
func yamlQuote(s string) string { return strconv.Quote(s) }

var listeningRE = regexp.MustCompile(`listening on (127\.0\.0\.1:[0-9]+)`)

// waitRegistry waits until the log names the listening address and GET /v2/
// answers 200 (or 401 when auth is on), or the process exits, or time runs
// out.
func waitRegistry(logPath string, auth bool, exited <-chan error) (string, error) {
	deadline := time.Now().Add(registryStartTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	host := ""
	var last error = errors.New("no listening address in the log yet")
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return "", fmt.Errorf("registry exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if host == "" {
			log, err := os.ReadFile(logPath)
			if err != nil {
				return "", err
			}
			m := listeningRE.FindSubmatch(log)
			if m == nil {
				continue
			}
			host = string(m[1])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		resp, err := client.Do(req)
		cancel()
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || (auth && resp.StatusCode == http.StatusUnauthorized) {
			return host, nil
		}
		last = fmt.Errorf("GET /v2/: %s", resp.Status)
	}
	return "", fmt.Errorf("timed out after %v: %v", registryStartTimeout, last)
}

// Request is one line of the registry's access log.
type Request struct {
	Method string
	// Target is the request target: path and query, as sent.
	Target string
	Status int
}

// accessRE matches the request and status fields of a combined-log line:
// ... "PUT /v2/x/blobs/uploads/id?digest=... HTTP/1.1" 201 0 "" "ua".
var accessRE = regexp.MustCompile(`"([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3}) `)

// Requests returns the requests the registry has logged so far, in order.
// The access log is written as each response completes, so call it after the
// client has finished.
func (r *Registry) Requests(t testing.TB) []Request {
	t.Helper()
	f, err := os.Open(r.AccessLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reqs []Request
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := accessRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		status, _ := strconv.Atoi(m[3])
		reqs = append(reqs, Request{Method: m[1], Target: m[2], Status: status})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", r.AccessLog, err)
	}
	return reqs
}

// IsBlobUpload reports whether q completed a blob upload: a 201 to the final
// PUT of an upload session, or to a single-request POST carrying ?digest=
// (registry v3 answers that POST with 202 and opens a session instead).
// Cross-repository mounts are not uploads (see IsBlobMount).
func (q Request) IsBlobUpload() bool {
	if q.Status != http.StatusCreated || !strings.Contains(q.Target, "/blobs/uploads/") {
		return false
	}
	switch q.Method {
	case http.MethodPut:
		return true
	case http.MethodPost:
		return strings.Contains(q.Target, "digest=") && !strings.Contains(q.Target, "mount=")
	}
	return false
}

// IsBlobMount reports whether q mounted a blob from another repository
// (POST .../blobs/uploads/?mount=...&from=... answered 201).
func (q Request) IsBlobMount() bool {
	return q.Method == http.MethodPost && q.Status == http.StatusCreated &&
		strings.Contains(q.Target, "/blobs/uploads/") && strings.Contains(q.Target, "mount=")
}

// BlobUploads counts the completed blob uploads in the access log so far.
func (r *Registry) BlobUploads(t testing.TB) int {
	t.Helper()
	n := 0
	for _, q := range r.Requests(t) {
		if q.IsBlobUpload() {
			n++
		}
	}
	return n
}

// BlobMounts counts the successful cross-repository blob mounts so far.
func (r *Registry) BlobMounts(t testing.TB) int {
	t.Helper()
	n := 0
	for _, q := range r.Requests(t) {
		if q.IsBlobMount() {
			n++
		}
	}
	return n
}

// Htpasswd writes an htpasswd file with one bcrypt entry (the only hash the
// registry accepts), made by htpasswd(1) from apache2-utils, and returns its
// path, for RegistryOptions.Htpasswd.
func Htpasswd(t testing.TB, user, password string) string {
	t.Helper()
	line := Run(t, "", "htpasswd", "-nbB", user, password)
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(strings.TrimSpace(line)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
