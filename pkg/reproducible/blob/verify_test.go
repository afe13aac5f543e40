package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

func desc(b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func TestVerifyReader(t *testing.T) {
	data := []byte("hello, layer")
	good := desc(data)
	tests := []struct {
		name    string
		data    []byte
		desc    ocispec.Descriptor
		wantIs  error
		wantErr string
	}{
		{name: "match", data: data, desc: good},
		{name: "empty", data: nil, desc: desc(nil)},
		{name: "longer", data: append(bytes.Clone(data), '!'), desc: good, wantIs: blob.ErrSizeMismatch, wantErr: "size mismatch: want 12, got more"},
		{name: "shorter", data: data[:5], desc: good, wantIs: blob.ErrSizeMismatch, wantErr: "size mismatch: want 12, got 5"},
		{name: "other bytes", data: []byte("hello, LAYER"), desc: good, wantIs: blob.ErrDigestMismatch, wantErr: "digest mismatch: want " + good.Digest.String() + ", got " + digest.FromString("hello, LAYER").String()},
		{name: "sha512", data: data, desc: ocispec.Descriptor{Digest: digest.SHA512.FromBytes(data), Size: 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(tt.data), iotest.OneByteReader(bytes.NewReader(tt.data)), iotest.DataErrReader(bytes.NewReader(tt.data))} {
				got, err := io.ReadAll(blob.VerifyReader(r, tt.desc))
				if tt.wantIs == nil {
					if err != nil || !bytes.Equal(got, tt.data) {
						t.Fatalf("read %q, %v; want %q", got, err, tt.data)
					}
					continue
				}
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("error %v, want one matching %v", err, tt.wantIs)
				}
				var me *blob.MismatchError
				if !errors.As(err, &me) || me.Desc.Digest != tt.desc.Digest {
					t.Errorf("error %v is not a *MismatchError naming the descriptor", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), tt.desc.Digest.String()) {
					t.Errorf("error %q: want it to start with the digest and contain %q", err, tt.wantErr)
				}
				if errors.Is(err, blob.ErrDigestMismatch) && errors.Is(err, blob.ErrSizeMismatch) {
					t.Errorf("error %v matches both sentinels", err)
				}
				// The error is sticky.
				if _, err2 := blob.VerifyReader(bytes.NewReader(tt.data), tt.desc).Read(make([]byte, 100)); err2 == nil && len(tt.data) > 100 {
					t.Error("no error")
				}
			}
			if err := blob.Verify(bytes.NewReader(tt.data), tt.desc); (err == nil) != (tt.wantIs == nil) {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// TestVerifyReaderBadDescriptor: a descriptor from a hostile source (a
// registry, an archive) must give an error, not a panic in go-digest.
func TestVerifyReaderBadDescriptor(t *testing.T) {
	for _, d := range []ocispec.Descriptor{
		{Digest: "sha256:nothex", Size: 1},
		{Digest: "md5:d41d8cd98f00b204e9800998ecf8427e", Size: 0},
		{Digest: "", Size: 0},
		{Digest: digest.FromString("x"), Size: -1},
	} {
		_, err := io.ReadAll(blob.VerifyReader(strings.NewReader("x"), d))
		if err == nil || !strings.Contains(err.Error(), "descriptor") {
			t.Errorf("VerifyReader(%q, size %d): %v, want an error about the descriptor", d.Digest, d.Size, err)
		}
	}
}

func TestReadAll(t *testing.T) {
	ctx := context.Background()
	m := blob.NewMemory()
	data := []byte(`{"architecture":"amd64"}`)
	d := desc(data)
	if err := m.Push(ctx, d, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := blob.ReadAll(ctx, m, d, blob.MaxMetadataBytes)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := blob.ReadAll(ctx, m, d, int64(len(data)-1)); !errors.Is(err, blob.ErrTooLarge) || !strings.Contains(err.Error(), d.Digest.String()) {
		t.Errorf("ReadAll over the limit: %v, want ErrTooLarge naming the digest", err)
	}
	huge := d
	huge.Size = 1 << 50
	if _, err := blob.ReadAll(ctx, blob.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
		t.Fatal("fetched a blob over the limit")
		return nil, nil
	}), huge, blob.MaxMetadataBytes); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("ReadAll of a 1 PiB descriptor: %v, want ErrTooLarge", err)
	}
	missing := desc([]byte("missing"))
	if _, err := blob.ReadAll(ctx, m, missing, blob.MaxMetadataBytes); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("ReadAll of a missing blob: %v, want ErrNotFound", err)
	}
	// A fetcher that returns other bytes than the descriptor's.
	liar := blob.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(`{"architecture":"arm64"}`)), nil
	})
	if _, err := blob.ReadAll(ctx, liar, d, blob.MaxMetadataBytes); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Errorf("ReadAll from a lying fetcher: %v, want ErrDigestMismatch", err)
	}
	if _, err := blob.ReadAll(ctx, m, ocispec.Descriptor{Digest: "sha256:nothex", Size: 1}, 10); err == nil {
		t.Error("ReadAll accepted a malformed digest")
	}
}

func TestValidateDescriptor(t *testing.T) {
	tests := []struct {
		name    string
		desc    ocispec.Descriptor
		wantErr string
	}{
		{name: "sha256", desc: desc([]byte("x"))},
		{name: "sha512", desc: ocispec.Descriptor{Digest: digest.SHA512.FromString("x"), Size: 1}},
		{name: "empty digest", desc: ocispec.Descriptor{}, wantErr: "digest"},
		{name: "bad hex", desc: ocispec.Descriptor{Digest: "sha256:zz", Size: 1}, wantErr: `descriptor "sha256:zz": digest`},
		{name: "sha384", desc: ocispec.Descriptor{Digest: digest.SHA384.FromString("x"), Size: 1}, wantErr: `digest algorithm "sha384": want sha256 or sha512`},
		{name: "negative size", desc: ocispec.Descriptor{Digest: digest.FromString("x"), Size: -1}, wantErr: "negative size -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := blob.ValidateDescriptor(tt.desc)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ValidateDescriptor: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMemory(t *testing.T) {
	ctx := context.Background()
	m := blob.NewMemory()
	data := []byte("layer bytes")
	d := desc(data)
	if ok, err := m.Exists(ctx, d); ok || err != nil {
		t.Fatalf("Exists before Push = %v, %v", ok, err)
	}
	if err := m.Push(ctx, d, strings.NewReader("other bytes")); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Push of other bytes: %v, want ErrDigestMismatch", err)
	}
	if ok, _ := m.Exists(ctx, d); ok {
		t.Fatal("a rejected Push stored the blob")
	}
	if err := m.Push(ctx, d, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := m.Push(ctx, d, bytes.NewReader(data)); err != nil {
		t.Fatalf("a second Push of the same blob: %v", err)
	}
	if ok, err := m.Exists(ctx, d); !ok || err != nil {
		t.Fatalf("Exists after Push = %v, %v", ok, err)
	}
	rc, err := m.Fetch(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Fetch = %q, %v", got, err)
	}
	// A descriptor with the right digest but the wrong size fails on read.
	wrong := d
	wrong.Size++
	rc, err = m.Fetch(ctx, wrong)
	if err == nil {
		_, err = io.ReadAll(rc)
	}
	if !errors.Is(err, blob.ErrSizeMismatch) {
		t.Errorf("Fetch with a wrong size: %v, want ErrSizeMismatch", err)
	}
}
