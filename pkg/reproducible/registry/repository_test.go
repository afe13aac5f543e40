package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
)

func fastRetries() registry.RetryPolicy {
	return registry.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, NoJitter: true}
}

func repoFor(t *testing.T, srv *httptest.Server, opts registry.Options) *registry.Repository {
	t.Helper()
	opts.Retry = fastRetries()
	c, err := registry.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := registry.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/test/app")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Repository(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// dropOnce serves data at the blob URL; the first response breaks off after
// cut bytes (the connection is closed), later ones honour Range.
func dropOnce(t *testing.T, data []byte, cut int, ranges bool) (*httptest.Server, *atomic.Int32, chan string) {
	var n atomic.Int32
	rangesSeen := make(chan string, 10)
	dg := digest.FromBytes(data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/test/app/blobs/"+dg.String() {
			http.NotFound(w, r)
			return
		}
		first := n.Add(1) == 1
		if ranges {
			w.Header().Set("Accept-Ranges", "bytes")
		}
		if first {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.WriteHeader(http.StatusOK)
			w.Write(data[:cut])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if rg := r.Header.Get("Range"); rg != "" {
			rangesSeen <- rg
		}
		if !ranges {
			w.Write(data)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv, &n, rangesSeen
}

func TestFetchResumes(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(data), Size: int64(len(data))}
	for _, ranges := range []bool{true, false} {
		t.Run(fmt.Sprintf("ranges=%v", ranges), func(t *testing.T) {
			srv, n, seen := dropOnce(t, data, 300<<10, ranges)
			r := repoFor(t, srv, registry.Options{})
			rc, err := r.Fetch(t.Context(), desc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes, not the blob", len(got))
			}
			if n.Load() < 2 {
				t.Errorf("%d requests; want the download resumed", n.Load())
			}
			close(seen)
			var rs []string
			for s := range seen {
				rs = append(rs, s)
			}
			if ranges && (len(rs) != 1 || !strings.HasPrefix(rs[0], "bytes=")) {
				t.Errorf("Range headers %q; want one, from where the first response broke off", rs)
			}
			if !ranges && len(rs) != 0 {
				t.Errorf("Range headers %q; the server does not serve ranges", rs)
			}
		})
	}
}

func TestFetchVerifies(t *testing.T) {
	data := []byte("the real bytes")
	served := []byte("other bytes!!!")
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(data), Size: int64(len(data))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(served) }))
	t.Cleanup(srv.Close)
	r := repoFor(t, srv, registry.Options{})
	rc, err := r.Fetch(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("read: %v; want %v", err, blob.ErrDigestMismatch)
	}
}

// TestErrorsHoldNoSecrets: a registry that echoes the credentials it was
// sent in its error message must not get them into our errors.
func TestErrorsHoldNoSecrets(t *testing.T) {
	const user, password = "alice", "s3cr3t-passw0rd"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"errors":[{"code":"UNAUTHORIZED","message":"rejected %q (password %s)"}]}`, r.Header.Get("Authorization"), password)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, basic)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := repoFor(t, srv, registry.Options{AuthFiles: []string{filepath.Join(dir, "config.json")}})
	_, err := r.Resolve(t.Context(), "v1")
	if err == nil {
		t.Fatal("Resolve succeeded against a registry that rejects everyone")
	}
	msg := err.Error()
	for _, secret := range []string{password, basic} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q holds a secret", msg)
		}
	}
	if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(msg, "rejected") {
		t.Errorf("error %q: want ErrUnauthorized saying the credentials were rejected", msg)
	}

	// Without credentials: the message says none were found, and where it looked.
	r = repoFor(t, srv, registry.Options{AuthFiles: []string{filepath.Join(dir, "none.json")}})
	_, err = r.Resolve(context.Background(), "v1")
	if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), "no credentials for "+host) || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("error %v: want ErrUnauthorized saying no credentials were found in none.json", err)
	}
}
