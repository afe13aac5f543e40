package checkers_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// get sends GET url with optional basic auth and returns the status code.
func get(t *testing.T, u, user, password string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// uploadBlob pushes b to repo in two requests (POST opens the session, PUT
// with ?digest= completes it), as the distribution spec describes.
func uploadBlob(t *testing.T, host, repo string, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	resp, err := http.Post("http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST blobs/uploads/: %s", resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", dgst)
	loc.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, loc.String(), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %s: %s", loc.Path, resp.Status)
	}
	return dgst
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	if !strings.HasPrefix(reg.Host, "127.0.0.1:") {
		t.Errorf("Host = %q, want 127.0.0.1:PORT", reg.Host)
	}
	if code := get(t, "http://"+reg.Host+"/v2/", "", ""); code != http.StatusOK {
		t.Fatalf("GET /v2/ = %d, want 200", code)
	}

	dgst := uploadBlob(t, reg.Host, "test/repo", []byte("a blob"))
	uploadBlob(t, reg.Host, "test/repo", []byte("another blob"))
	// Mount the first into a second repository: counted apart.
	resp, err := http.Post("http://"+reg.Host+"/v2/test/other/blobs/uploads/?"+
		url.Values{"mount": {dgst}, "from": {"test/repo"}}.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("mount: %s", resp.Status)
	}
	if code := get(t, "http://"+reg.Host+"/v2/test/other/blobs/"+dgst, "", ""); code != http.StatusOK {
		t.Errorf("GET mounted blob = %d, want 200", code)
	}

	if n := reg.BlobUploads(t); n != 2 {
		t.Errorf("BlobUploads = %d, want 2; requests: %+v", n, reg.Requests(t))
	}
	if n := reg.BlobMounts(t); n != 1 {
		t.Errorf("BlobMounts = %d, want 1; requests: %+v", n, reg.Requests(t))
	}
	if log, err := os.ReadFile(reg.Log); err != nil || !strings.Contains(string(log), "listening on") {
		t.Errorf("registry log %s: %v; want a 'listening on' line", reg.Log, err)
	}
}

func TestRegistryAuth(t *testing.T) {
	t.Parallel()
	host := checkers.StartRegistry(t, checkers.RegistryOptions{
		Htpasswd: checkers.Htpasswd(t, "alice", "s3cret"),
		Realm:    "test realm",
	})
	for _, tc := range []struct {
		user, password string
		want           int
	}{
		{"", "", http.StatusUnauthorized},
		{"alice", "wrong", http.StatusUnauthorized},
		{"alice", "s3cret", http.StatusOK},
	} {
		if got := get(t, "http://"+host+"/v2/", tc.user, tc.password); got != tc.want {
			t.Errorf("GET /v2/ as %q:%q = %d, want %d", tc.user, tc.password, got, tc.want)
		}
	}
}
