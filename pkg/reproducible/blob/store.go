// Package blob holds the descriptor-addressed roles every store of the writer
// speaks (layouts, archives, registries, memory) and the verified reads they
// share. A descriptor is the address: every read is checked against its size
// and digest, and every write is checked against the descriptor it claims.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Sentinels callers branch on.
var (
	ErrNotFound       = errors.New("blob not found")
	ErrDigestMismatch = errors.New("digest mismatch")
	ErrSizeMismatch   = errors.New("size mismatch")
	ErrTooLarge       = errors.New("blob too large")
)

// Fetcher reads blobs by descriptor. The returned reader is verified: it
// fails at EOF (or before) when the bytes do not match desc's size and digest.
// A missing blob is an error wrapping ErrNotFound.
type Fetcher interface {
	Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// Pusher stores blobs. Push reads r to the end and stores it under desc only
// when the bytes match desc; otherwise it stores nothing. A nil error promises
// the blob is stored, not that this call stored it.
type Pusher interface {
	Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error
}

// Store is a Fetcher and a Pusher that can also say what it holds.
type Store interface {
	Fetcher
	Pusher
	Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return f(ctx, desc)
}

// MismatchError says that bytes did not match their descriptor. It matches
// ErrDigestMismatch or ErrSizeMismatch under errors.Is.
type MismatchError struct {
	Desc ocispec.Descriptor
	// Field is "size" or "digest".
	Field string
	Want  string
	Got   string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s %s: %s mismatch: want %s, got %s", e.Desc.Digest, e.Desc.MediaType, e.Field, e.Want, e.Got)
}

// Is makes errors.Is match the sentinel of the mismatched field.
func (e *MismatchError) Is(target error) bool {
	return (e.Field == "digest" && target == ErrDigestMismatch) || (e.Field == "size" && target == ErrSizeMismatch)
}

// ValidateDescriptor checks what can be checked without the bytes: a
// well-formed sha256 or sha512 digest and a non-negative size.
func ValidateDescriptor(desc ocispec.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("descriptor %q: digest: %w", desc.Digest, err)
	}
	if desc.Digest.Algorithm() != digest.SHA256 && desc.Digest.Algorithm() != digest.SHA512 {
		return fmt.Errorf("descriptor %s: digest algorithm %q: want sha256 or sha512", desc.Digest, desc.Digest.Algorithm())
	}
	if desc.Size < 0 {
		return fmt.Errorf("descriptor %s: negative size %d", desc.Digest, desc.Size)
	}
	return nil
}
