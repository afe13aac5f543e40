package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// BuildOptions are the parameters of Build. The zero value builds a gzip
// layer at the default level.
type BuildOptions struct {
	Compression reproducible.Compression
}

// copyBufferSize is the size of the buffer file bytes move through: large
// enough that syscalls and hashing calls are few, small enough to be constant.
const copyBufferSize = 1 << 20

// Build writes the layer blob for s to w in one pass: entries are turned into
// a tar stream that is hashed (the DiffID), compressed, hashed again (the
// digest) and written. Each input byte is read once and memory does not grow
// with the layer's size. It returns the layer's metadata. On error, what was
// written to w is garbage and the caller discards it.
func Build(ctx context.Context, w io.Writer, s *Spec, opts BuildOptions) (Metadata, error) {
	c, err := opts.Compression.Resolved()
	if err != nil {
		return Metadata{}, err
	}
	blob := &hashingWriter{w: w, h: sha256.New()}
	comp, err := reproducible.NewWriter(blob, c)
	if err != nil {
		return Metadata{}, err
	}
	// With no compression the tar is the blob: hash it once.
	tarOut := io.Writer(comp)
	var diff *hashingWriter
	if c.Algorithm != reproducible.None {
		diff = &hashingWriter{w: comp, h: sha256.New()}
		tarOut = diff
	}
	bw := bufio.NewWriterSize(tarOut, copyBufferSize)
	tw := tar.NewWriter(bw)
	buf := make([]byte, copyBufferSize)
	for i := range s.entries {
		if err := ctx.Err(); err != nil {
			return Metadata{}, err
		}
		if err := writeEntry(tw, &s.entries[i], buf); err != nil {
			return Metadata{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Metadata{}, err
	}
	if err := bw.Flush(); err != nil {
		return Metadata{}, err
	}
	if err := comp.Close(); err != nil {
		return Metadata{}, err
	}
	m := Metadata{
		Version: MetadataVersion,
		Descriptor: ocispec.Descriptor{
			MediaType: c.MediaType(),
			Digest:    digest.NewDigest(digest.SHA256, blob.h),
			Size:      blob.n,
		},
		Compression: CompressionInfo{
			Algorithm:      c.Algorithm,
			Level:          c.Level,
			Implementation: c.Implementation(),
		},
	}
	if diff != nil {
		m.DiffID, m.UncompressedSize = digest.NewDigest(digest.SHA256, diff.h), diff.n
	} else {
		m.DiffID, m.UncompressedSize = m.Descriptor.Digest, m.Descriptor.Size
	}
	return m, nil
}

func writeEntry(tw *tar.Writer, e *Entry, buf []byte) error {
	fail := func(err error) error { return &PathError{Op: "build", Path: e.Path, Source: e.Origin, Err: err} }
	h, err := reproducible.NormalizeHeader(e.header())
	if err != nil {
		return fail(err)
	}
	if err := tw.WriteHeader(&h); err != nil {
		return fail(err)
	}
	if e.Kind != File || e.Source == nil || h.Size == 0 {
		return nil
	}
	rc, err := e.Source.Open()
	if err != nil {
		return fail(err)
	}
	defer rc.Close()
	// Hide ReadFrom/WriteTo so the copy goes through buf, not 32 KiB chunks.
	n, err := io.CopyBuffer(struct{ io.Writer }{tw}, struct{ io.Reader }{io.LimitReader(rc, h.Size+1)}, buf)
	if err == tar.ErrWriteTooLong {
		// The byte past h.Size that LimitReader let through: the file grew.
		return fail(fmt.Errorf("%w: %s changed size while the layer was built: %d bytes, then more", ErrBadSource, e.Source, h.Size))
	}
	if err != nil {
		return fail(err)
	}
	if n != h.Size {
		return fail(fmt.Errorf("%w: %s changed size while the layer was built: %d bytes, then %d", ErrBadSource, e.Source, h.Size, n))
	}
	return nil
}

type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// WriteFiles builds s into the blob file blobPath and writes its metadata to
// metadataPath, both atomically: on any error neither exists afterwards.
func WriteFiles(ctx context.Context, s *Spec, opts BuildOptions, blobPath, metadataPath string) (Metadata, error) {
	blob, err := reproducible.CreatePending(blobPath)
	if err != nil {
		return Metadata{}, err
	}
	defer blob.Abort()
	bw := bufio.NewWriterSize(blob, copyBufferSize)
	m, err := Build(ctx, bw, s, opts)
	if err != nil {
		return Metadata{}, err
	}
	if err := bw.Flush(); err != nil {
		return Metadata{}, err
	}
	meta, err := m.Marshal()
	if err != nil {
		return Metadata{}, err
	}
	mf, err := reproducible.CreatePending(metadataPath)
	if err != nil {
		return Metadata{}, err
	}
	defer mf.Abort()
	if _, err := mf.Write(meta); err != nil {
		return Metadata{}, err
	}
	if err := blob.Commit(); err != nil {
		return Metadata{}, err
	}
	if err := mf.Commit(); err != nil {
		os.Remove(blobPath)
		return Metadata{}, err
	}
	return m, nil
}
