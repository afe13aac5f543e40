package diff_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/diff"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// rawTar writes headers (files get body "x" times their Size) in order.
func rawTar(t testing.TB, pad int, hs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(0, 0)
		}
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	buf.Write(make([]byte, pad))
	return buf.Bytes()
}

func reg(name string) tar.Header {
	return tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: 1}
}

// rawLayout writes a one-layer image whose layer is tarBytes compressed
// with c, and returns its path.
func rawLayout(t testing.TB, tarBytes []byte, c reproducible.Compression) string {
	t.Helper()
	var blob bytes.Buffer
	zw, err := reproducible.NewWriter(&blob, c)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(tarBytes)
	zw.Close()
	l := layout.New()
	lb := image.BlobOf(c.MediaType(), blob.Bytes())
	l.AddBlob(lb)
	cf, config, err := image.NewConfig(image.ConfigOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []image.LayerHistory{{DiffID: digest.FromBytes(tarBytes)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := image.NewManifest(config, []ocispec.Descriptor{lb.Descriptor}, image.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.AddImage(image.Image{Manifest: m, Config: config, ConfigFile: cf})
	l.Tag(m.Descriptor, "")
	dst := filepath.Join(t.TempDir(), "layout")
	if err := layout.WriteDir(context.Background(), dst, l); err != nil {
		t.Fatal(err)
	}
	return dst
}

var gz = reproducible.Compression{Algorithm: reproducible.Gzip}

// TestTarDetails: layers whose entries are the same but whose tars are not.
func TestTarDetails(t *testing.T) {
	withXattr := func(v string) tar.Header {
		h := reg("a")
		h.PAXRecords = map[string]string{"SCHILY.xattr.user.k": v}
		return h
	}
	dotSlash := reg("./a")
	tests := []struct {
		name string
		a, b []byte
		want []string
	}{
		{"entry order", rawTar(t, 0, reg("a"), reg("b")), rawTar(t, 0, reg("b"), reg("a")), []string{"layers[0]: order changed"}},
		{"padding", rawTar(t, 0, reg("a")), rawTar(t, 1024, reg("a")), []string{"layers[0]: tar encoding changed"}},
		{"name spelling", rawTar(t, 0, reg("a")), rawTar(t, 0, dotSlash), []string{"layers[0]: a: name changed"}},
		{"xattr", rawTar(t, 0, withXattr("1")), rawTar(t, 0, withXattr("2")), []string{"layers[0]: a: xattr.user.k changed"}},
		{"entry removed", rawTar(t, 0, reg("a"), reg("b")), rawTar(t, 0, reg("a")), []string{"layers[0]: b removed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := explain(t, rawLayout(t, tc.a, gz), rawLayout(t, tc.b, gz), diff.Options{})
			if d := cmp.Diff(tc.want, summary(r)); d != "" {
				var buf bytes.Buffer
				diff.Render(&buf, r)
				t.Errorf("(-want +got):\n%s\n%s", d, buf.String())
			}
		})
	}
}

// TestCompressionAlgorithms: the same content, gzip against zstd and none.
func TestCompressionAlgorithms(t *testing.T) {
	content := rawTar(t, 0, reg("a"))
	for _, alg := range []reproducible.Algorithm{reproducible.Zstd, reproducible.None} {
		r := explain(t, rawLayout(t, content, gz), rawLayout(t, content, reproducible.Compression{Algorithm: alg}), diff.Options{})
		if d := cmp.Diff([]string{"layers[0]: compression changed"}, summary(r)); d != "" {
			t.Fatalf("gzip vs %s (-want +got):\n%s", alg, d)
		}
		d := r.Differences[0]
		if !bytes.Contains([]byte(d.A), []byte("gzip")) || !bytes.Contains([]byte(d.B), []byte(string(alg))) {
			t.Errorf("gzip vs %s: a %q, b %q", alg, d.A, d.B)
		}
	}
}

// TestDiffIDMismatch: a config that lies about its layer cannot be
// compared.
func TestDiffIDMismatch(t *testing.T) {
	a := rawLayout(t, rawTar(t, 0, reg("a")), gz)
	// Rewrite b's config to claim another diff_id.
	content := rawTar(t, 0, reg("b"))
	var blob bytes.Buffer
	zw, _ := reproducible.NewWriter(&blob, gz)
	zw.Write(content)
	zw.Close()
	l := layout.New()
	lb := image.BlobOf(gz.MediaType(), blob.Bytes())
	l.AddBlob(lb)
	cf, config, _ := image.NewConfig(image.ConfigOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []image.LayerHistory{{DiffID: digest.FromString("a lie")}},
	})
	m, _ := image.NewManifest(config, []ocispec.Descriptor{lb.Descriptor}, image.ManifestOptions{})
	l.AddImage(image.Image{Manifest: m, Config: config, ConfigFile: cf})
	l.Tag(m.Descriptor, "")
	b := filepath.Join(t.TempDir(), "layout")
	if err := layout.WriteDir(context.Background(), b, l); err != nil {
		t.Fatal(err)
	}
	if _, err := diff.Explain(context.Background(), side(t, a), side(t, b), diff.Options{}); err == nil {
		t.Fatal("no error for a layer that does not match its diff_id")
	}
}

// TestArtifacts: indexes with attestation manifests (several with the
// platform unknown/unknown, as buildx writes them): those are compared by
// digest, never walked as images.
func TestArtifacts(t *testing.T) {
	ctx := context.Background()
	mkIndex := func(statement string) diff.Side {
		m := blob.NewMemory()
		put := func(b image.Blob) ocispec.Descriptor {
			if err := m.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil {
				t.Fatal(err)
			}
			return b.Descriptor
		}
		empty := image.BlobOf(ocispec.MediaTypeEmptyJSON, []byte("{}"))
		put(empty)
		var ms []ocispec.Descriptor
		for i, s := range []string{"same statement", statement} {
			l := image.BlobOf("application/vnd.in-toto+json", []byte(s))
			put(l)
			man, err := image.NewManifest(empty, []ocispec.Descriptor{l.Descriptor}, image.ManifestOptions{ArtifactType: "application/vnd.in-toto+json"})
			if err != nil {
				t.Fatal(err)
			}
			d := put(man)
			d.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
			d.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest", "n": fmt.Sprint(i)}
			ms = append(ms, d)
		}
		idx, err := image.NewBlob(ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: ms})
		if err != nil {
			t.Fatal(err)
		}
		return diff.Side{Name: "idx", Fetcher: m, Root: put(idx)}
	}
	r, err := diff.Explain(ctx, mkIndex("one"), mkIndex("two"), diff.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"unknown/unknown #2: manifest changed"}, summary(r)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
