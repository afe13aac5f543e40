package checkers_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// member is one entry of the test layer.
type member struct {
	name     string
	typeflag byte
	mode     int64
	content  string // or link target
}

// descriptor is an OCI content descriptor (the subset the tests need).
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// writeLayout writes a one-layer linux/amd64 image tagged tag into a new OCI
// image layout at dir, with only the standard library, so that these tests
// do not depend on the code under test.
func writeLayout(t *testing.T, dir, tag string, members []member) {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Typeflag: m.typeflag, Mode: m.mode, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch m.typeflag {
		case tar.TypeReg:
			h.Size = int64(len(m.content))
		case tar.TypeSymlink:
			h.Linkname = m.content
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if m.typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(m.content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	zw.Write(tarBuf.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(mediaType string, b []byte) descriptor {
		sum := sha256.Sum256(b)
		hexsum := hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", hexsum), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return descriptor{MediaType: mediaType, Digest: "sha256:" + hexsum, Size: int64(len(b))}
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	diffID := sha256.Sum256(tarBuf.Bytes())
	layer := put("application/vnd.oci.image.layer.v1.tar+gzip", gzBuf.Bytes())
	config := put("application/vnd.oci.image.config.v1+json", mustJSON(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Env": []string{"PATH=/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	}))
	manifest := put("application/vnd.oci.image.manifest.v1+json", mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        config,
		"layers":        []descriptor{layer},
	}))
	manifest.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	index := mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifest},
	})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}
