package layer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// ReadTarFile indexes the tar file at path (plain, gzip or zstd, detected
// from its first bytes) as entries whose Sources read its members. The paths
// of the entries are those in the tar, placed under prefix (cleaned; "" for
// the root). Member metadata is kept as read; the caller decides what to
// reset.
//
// Members are read in the layer's order, not the tar's, so a plain tar is
// read in place with ReadAt. A compressed tar is decompressed once, while it
// is indexed, into an unlinked temporary file in tmpDir ("" for the system
// default); the returned Closer releases it.
func ReadTarFile(path, prefix, tmpDir string) ([]Entry, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	head := make([]byte, 4)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrBadTar, path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	alg := reproducible.Detect(head[:n])
	var (
		data   *os.File      // the plain tar, read with ReadAt
		stream io.Reader     // what the tar reader reads
		pos    func() int64  // offset in data of the tar reader's position
		closer io.Closer     = f
		dec    io.ReadCloser // the decompressor, for a compressed tar
	)
	if alg == reproducible.None {
		data, stream = f, f
		pos = func() int64 { off, _ := f.Seek(0, io.SeekCurrent); return off }
	} else {
		spill, err := os.CreateTemp(tmpDir, "imagewriter-tar-*")
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		os.Remove(spill.Name()) // unlinked: nothing is left behind, even on a crash
		f2 := f
		closer = closerFunc(func() error { f2.Close(); return spill.Close() })
		dec, err = reproducible.NewReader(bufio.NewReaderSize(f, copyBufferSize), alg)
		if err != nil {
			closer.Close()
			return nil, nil, fmt.Errorf("%w: %s: %s: %v", ErrBadTar, path, alg, err)
		}
		defer dec.Close()
		cw := &countingWriter{w: spill}
		data, stream = spill, io.TeeReader(dec, cw)
		pos = func() int64 { return cw.n }
	}
	entries, err := indexTar(stream, pos, data, path, prefix)
	if err == nil && dec != nil {
		// Read the compressed stream to its end: archive/tar stops at the
		// end-of-archive marker, and the gzip CRC or zstd checksum that
		// proves the stream intact comes after it.
		if _, derr := io.Copy(io.Discard, dec); derr != nil {
			err = fmt.Errorf("%w: %s after the end of the archive: %v", ErrBadTar, alg, derr)
		}
	}
	if err != nil {
		closer.Close()
		var pe *PathError
		if errors.As(err, &pe) {
			pe.Source = path
			return nil, nil, pe
		}
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, closer, nil
}

func indexTar(stream io.Reader, pos func() int64, data io.ReaderAt, path, prefix string) ([]Entry, error) {
	if prefix != "" {
		p, err := reproducible.CleanPath(prefix)
		if err != nil {
			return nil, fmt.Errorf("prefix: %w", err)
		}
		prefix = p
	}
	r := NewReader(stream)
	r.RejectEscapingSymlinks = true
	var entries []Entry
	for {
		e, h, err := r.Next()
		if err == io.EOF {
			return entries, nil
		}
		if err != nil {
			return nil, err
		}
		e.Origin = fmt.Sprintf("%s member %q", path, h.Name)
		e.Path = joinPath(prefix, e.Path)
		if e.Kind == Hardlink {
			e.Linkname = joinPath(prefix, e.Linkname)
		}
		if e.Kind == File && h.Size > 0 {
			e.Source = &tarMember{r: data, off: pos(), size: h.Size, name: e.Origin}
		}
		entries = append(entries, *e)
	}
}

// tarMember is a Source reading one member of an indexed tar.
type tarMember struct {
	r    io.ReaderAt
	off  int64
	size int64
	name string
}

func (m *tarMember) Size() int64 { return m.size }
func (m *tarMember) Open() (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(m.r, m.off, m.size)), nil
}
func (m *tarMember) String() string { return m.name }
func (*tarMember) source()          {}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
