package unpack

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// Image unpacks img's layers, read from f, into dir (an existing, empty
// directory), lowest first. Each blob is verified against its descriptor
// and each uncompressed stream against the config's diff_id.
func Image(ctx context.Context, f blob.Fetcher, img image.Image, dir string, opts Options) (Result, error) {
	u, err := New(dir, opts)
	if err != nil {
		return Result{}, err
	}
	diffIDs := img.DiffIDs()
	if len(diffIDs) != len(img.Layers) {
		return Result{}, fmt.Errorf("%d layers, %d rootfs.diff_ids", len(img.Layers), len(diffIDs))
	}
	for i, d := range img.Layers {
		if err := applyBlob(ctx, u, f, d, diffIDs[i]); err != nil {
			return Result{}, fmt.Errorf("layers[%d] %s: %w", i, d.Digest, err)
		}
	}
	return u.Finish()
}

func applyBlob(ctx context.Context, u *Unpacker, f blob.Fetcher, desc ocispec.Descriptor, diffID digest.Digest) error {
	if err := diffID.Validate(); err != nil {
		return fmt.Errorf("diff_id %q: %v", diffID, err)
	}
	l, err := OpenLayer(ctx, f, desc)
	if err != nil {
		return err
	}
	defer l.Close()
	v := diffID.Verifier()
	tee := io.TeeReader(l, v)
	if err := u.ApplyLayer(ctx, tee); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return err
	}
	if err := l.Close(); err != nil {
		return err
	}
	if !v.Verified() {
		return fmt.Errorf("%w: uncompressed content does not match diff_id %s", blob.ErrDigestMismatch, diffID)
	}
	return nil
}

// Layer is an open layer blob: its uncompressed tar stream.
type Layer struct {
	io.Reader
	// Compression is the algorithm found from the blob's first bytes
	// (media types are not trusted for it).
	Compression reproducible.Algorithm
	raw         io.ReadCloser
	dec         io.ReadCloser
	closed      bool
}

// OpenLayer fetches a layer blob and decompresses it, detecting gzip, zstd
// or none from its first bytes. Close drains the blob, so that its digest
// and size are verified, and reports a mismatch.
func OpenLayer(ctx context.Context, f blob.Fetcher, desc ocispec.Descriptor) (*Layer, error) {
	raw, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(raw, 1<<16)
	head, _ := br.Peek(4)
	alg := reproducible.Detect(head)
	dec, err := reproducible.NewReader(br, alg)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("%s: %v", alg, err)
	}
	return &Layer{Reader: dec, Compression: alg, raw: struct {
		io.Reader
		io.Closer
	}{br, raw}, dec: dec}, nil
}

// Close verifies the rest of the blob and releases it.
func (l *Layer) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	l.dec.Close()
	_, err := io.Copy(io.Discard, l.raw)
	if cerr := l.raw.Close(); err == nil {
		err = cerr
	}
	return err
}
