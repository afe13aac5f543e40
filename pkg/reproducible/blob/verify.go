package blob

import (
	"bytes"
	"context"
	_ "crypto/sha256" // go-digest registers no algorithm itself
	_ "crypto/sha512" // ValidateDescriptor accepts sha512: go-digest needs it registered
	"fmt"
	"io"
	"strconv"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// VerifyReader wraps r so that reading it yields at most desc.Size bytes and
// the read that reaches the end fails with a *MismatchError when the size or
// digest differ. Bytes past desc.Size are an error too (a longer blob is a
// different blob), so a caller that reads to io.EOF has verified it. A
// descriptor that ValidateDescriptor refuses makes the first Read fail.
func VerifyReader(r io.Reader, desc ocispec.Descriptor) io.Reader {
	if err := ValidateDescriptor(desc); err != nil {
		return &verifyReader{err: err}
	}
	return &verifyReader{r: r, desc: desc, v: desc.Digest.Algorithm().Hash(), left: desc.Size}
}

type verifyReader struct {
	r    io.Reader
	desc ocispec.Descriptor
	v    interface {
		io.Writer
		Sum([]byte) []byte
	}
	left int64
	n    int64
	err  error
}

func (vr *verifyReader) Read(p []byte) (int, error) {
	if vr.err != nil {
		return 0, vr.err
	}
	if int64(len(p)) > vr.left+1 {
		p = p[:vr.left+1] // one more byte to detect trailing data
	}
	n, err := vr.r.Read(p)
	vr.n += int64(n)
	if int64(n) > vr.left {
		vr.err = vr.mismatch("size", strconv.FormatInt(vr.desc.Size, 10), "more")
		return 0, vr.err
	}
	vr.left -= int64(n)
	vr.v.Write(p[:n])
	if err == io.EOF {
		if vr.left != 0 {
			vr.err = vr.mismatch("size", strconv.FormatInt(vr.desc.Size, 10), strconv.FormatInt(vr.n, 10))
			return n, vr.err
		}
		got := digest.NewDigestFromBytes(vr.desc.Digest.Algorithm(), vr.v.Sum(nil))
		if got != vr.desc.Digest {
			vr.err = vr.mismatch("digest", vr.desc.Digest.String(), got.String())
			return n, vr.err
		}
		vr.err = io.EOF
	} else if err != nil {
		vr.err = err
	}
	return n, err
}

func (vr *verifyReader) mismatch(field, want, got string) error {
	return &MismatchError{Desc: vr.desc, Field: field, Want: want, Got: got}
}

// ReadAll fetches a small blob (a manifest, index or config) whole. It refuses,
// before allocating, a descriptor larger than max, and verifies the bytes.
func ReadAll(ctx context.Context, f Fetcher, desc ocispec.Descriptor, max int64) ([]byte, error) {
	if err := ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	if desc.Size > max {
		return nil, fmt.Errorf("%s %s: %w: %d bytes, limit %d", desc.Digest, desc.MediaType, ErrTooLarge, desc.Size, max)
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, desc.Size))
	if _, err := io.Copy(buf, VerifyReader(rc, desc)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MaxMetadataBytes caps manifests, indexes and configs read from untrusted
// sources: 4 MiB, as registries commonly cap manifests.
const MaxMetadataBytes = 4 << 20

// Verify reads r to the end and checks it against desc.
func Verify(r io.Reader, desc ocispec.Descriptor) error {
	_, err := io.Copy(io.Discard, VerifyReader(r, desc))
	return err
}
