package layout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

const layoutFile = `{"imageLayoutVersion":"1.0.0"}`

func newBytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// Dir is an OCI image layout directory, read as a blob.Store.
type Dir string

var _ blob.Store = Dir("")

// OpenDir checks that path is an OCI image layout (its oci-layout file says
// version 1.0.0) and returns it.
func OpenDir(path string) (Dir, error) {
	b, err := os.ReadFile(filepath.Join(path, ocispec.ImageLayoutFile))
	if err != nil {
		return "", fmt.Errorf("%s: not an OCI image layout: %w", path, err)
	}
	var l ocispec.ImageLayout
	if err := json.Unmarshal(b, &l); err != nil || l.Version != ocispec.ImageLayoutVersion {
		return "", fmt.Errorf("%s: oci-layout: want imageLayoutVersion %q", path, ocispec.ImageLayoutVersion)
	}
	return Dir(path), nil
}

// BlobPath is where a blob lives in the layout.
func (d Dir) BlobPath(dg digest.Digest) string {
	return filepath.Join(string(d), ocispec.ImageBlobsDir, dg.Algorithm().String(), dg.Encoded())
}

// Index reads index.json.
func (d Dir) Index() (ocispec.Index, error) {
	p := filepath.Join(string(d), ocispec.ImageIndexFile)
	fi, err := os.Stat(p)
	if err != nil {
		return ocispec.Index{}, err
	}
	if fi.Size() > blob.MaxMetadataBytes {
		return ocispec.Index{}, fmt.Errorf("%s: %w: %d bytes", p, blob.ErrTooLarge, fi.Size())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return ocispec.Index{}, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Index{}, fmt.Errorf("%s: %v", p, err)
	}
	if idx.Manifests == nil {
		return ocispec.Index{}, fmt.Errorf("%s: manifests is null", p)
	}
	return idx, nil
}

// Fetch opens a blob, verified against desc.
func (d Dir) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	f, err := os.Open(d.BlobPath(desc.Digest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s %s: %w in %s", desc.Digest, desc.MediaType, blob.ErrNotFound, d)
	}
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{blob.VerifyReader(f, desc), f}, nil
}

// Exists reports whether the blob file is present with the right size.
func (d Dir) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return false, err
	}
	fi, err := os.Stat(d.BlobPath(desc.Digest))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Size() == desc.Size, nil
}

// Push stores a blob: written to a temporary file, verified, renamed.
func (d Dir) Push(_ context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return err
	}
	dst := d.BlobPath(desc.Digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	p, err := reproducible.CreatePending(dst)
	if err != nil {
		return err
	}
	defer p.Abort()
	if _, err := io.Copy(p, blob.VerifyReader(r, desc)); err != nil {
		return err
	}
	return p.Commit()
}

// WriteDir writes l as an OCI image layout directory at dst. It is built in
// a temporary sibling directory and renamed into place, replacing an
// existing dst; on error nothing is left. Blobs from files are hard-linked
// (an untrusted file is verified first); they are copied only when a link is
// impossible, e.g. across file systems.
func WriteDir(ctx context.Context, dst string, l *Layout) error {
	if err := l.Check(); err != nil {
		return err
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	d := Dir(tmp)
	blobDir := filepath.Join(tmp, ocispec.ImageBlobsDir, "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return err
	}
	// Modes are the writer's, not the umask's: 0755 directories, 0644
	// files, as the blobs (PendingFile.Commit) and the archives have.
	for _, dir := range []string{filepath.Dir(blobDir), blobDir} {
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
	}
	for _, dg := range l.Digests() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeBlob(ctx, d, l.blobs[dg]); err != nil {
			return err
		}
	}
	idx, err := reproducible.Marshal(l.Index())
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{ocispec.ImageIndexFile: idx, ocispec.ImageLayoutFile: []byte(layoutFile)} {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		if err := os.Chmod(p, 0o644); err != nil {
			return err
		}
	}
	return reproducible.ReplaceDir(tmp, dst)
}

func writeBlob(ctx context.Context, d Dir, s source) error {
	dst := d.BlobPath(s.desc.Digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if s.path != "" {
		if s.verify {
			f, err := os.Open(s.path)
			if err != nil {
				return err
			}
			err = blob.Verify(f, s.desc)
			f.Close()
			if err != nil {
				return s.wrap(err)
			}
		} else if fi, err := os.Stat(s.path); err != nil {
			return err
		} else if fi.Size() != s.desc.Size {
			return &blob.MismatchError{Desc: s.desc, Field: "size", Want: fmt.Sprint(s.desc.Size), Got: fmt.Sprint(fi.Size())}
		}
		// os.Link does not follow symlinks: linking a symlinked source (a
		// Bazel sandbox stages every input as one) would put the symlink,
		// not the blob, into the layout. Link the file it resolves to.
		target, err := filepath.EvalSymlinks(s.path)
		if err != nil {
			return err
		}
		if err := os.Link(target, dst); err == nil {
			return nil
		} else if !linkImpossible(err) {
			return err
		}
	}
	rc, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.wrap(d.Push(ctx, s.desc, rc))
}

// linkImpossible: errors after which copying is the right fallback.
func linkImpossible(err error) bool {
	return errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EMLINK) || errors.Is(err, syscall.ENOTSUP)
}
