package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Memory is a Store kept in memory, for tests and small graphs.
type Memory struct {
	mu    sync.Mutex
	blobs map[digest.Digest][]byte
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{blobs: map[digest.Digest][]byte{}} }

// Fetch returns the blob, verified.
func (m *Memory) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	m.mu.Lock()
	b, ok := m.blobs[desc.Digest]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", desc.Digest, desc.MediaType, ErrNotFound)
	}
	return io.NopCloser(VerifyReader(bytes.NewReader(b), desc)), nil
}

// Push stores the blob if its bytes match desc.
func (m *Memory) Push(_ context.Context, desc ocispec.Descriptor, r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, VerifyReader(r, desc)); err != nil {
		return err
	}
	m.mu.Lock()
	m.blobs[desc.Digest] = buf.Bytes()
	m.mu.Unlock()
	return nil
}

// Exists reports whether the blob is stored.
func (m *Memory) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blobs[desc.Digest]
	return ok, nil
}
