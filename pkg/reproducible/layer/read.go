package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// Reader iterates over a tar stream that is hostile input. Each entry comes
// back with a cleaned relative path, whiteouts turned into Whiteout and Opaque
// entries, and xattrs taken from PAX records. An absolute name, a ".." that
// climbs out, a hard link out of the root, a malformed whiteout, a sparse
// file, or a corrupt or truncated stream is a *PathError (or wraps ErrBadTar),
// never clamped or skipped. The only entry passed over is the archive's own
// root ("./"), which names no path a layer can hold. A stream that stops
// without the end-of-archive marker (a zero block) is truncated, even when it
// stops exactly between two members.
type Reader struct {
	tr  *tar.Reader
	in  *offsetReader
	end int64 // offset in the stream just past the last member's data
	// RejectEscapingSymlinks makes a symlink whose relative target climbs
	// above the root an error. Absolute targets are always allowed: they
	// resolve inside the container's root.
	RejectEscapingSymlinks bool
	err                    error
}

// NewReader reads a plain (uncompressed) tar stream from r. When r is an
// io.Seeker, the data of members that are not read is skipped with Seek.
func NewReader(r io.Reader) *Reader {
	in := &offsetReader{r: r}
	if _, ok := r.(io.Seeker); ok {
		return &Reader{tr: tar.NewReader(offsetReadSeeker{in}), in: in}
	}
	return &Reader{tr: tar.NewReader(in), in: in}
}

const blockSize = 512

// offsetReader counts the bytes of the stream the tar reader has consumed,
// read or skipped, so that Next can tell the end-of-archive marker from a
// stream that merely stops at a member boundary (archive/tar returns io.EOF
// for both).
type offsetReader struct {
	r   io.Reader
	off int64
}

func (o *offsetReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.off += int64(n)
	return n, err
}

// offsetReadSeeker is an offsetReader over an io.Seeker. archive/tar seeks
// only relative to the current offset.
type offsetReadSeeker struct{ *offsetReader }

func (o offsetReadSeeker) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekCurrent {
		return 0, fmt.Errorf("tar reader: unexpected seek (whence %d)", whence)
	}
	n, err := o.r.(io.Seeker).Seek(offset, whence)
	if err == nil {
		o.off += offset
	}
	return n, err
}

// Next advances to the next entry. It returns io.EOF at the end of the
// archive. The entry's Source is nil: read the bytes of a regular file from
// the Reader itself. hdr is the header as it is in the stream.
func (r *Reader) Next() (e *Entry, hdr *tar.Header, err error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	defer func() { r.err = err }()
	for {
		h, err := r.tr.Next()
		if err == io.EOF {
			if r.in.off-r.end < blockSize {
				return nil, nil, fmt.Errorf("%w: truncated: the stream stops after %d bytes, without the end-of-archive marker", ErrBadTar, r.in.off)
			}
			return nil, nil, io.EOF
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadTar, err)
		}
		r.end = r.in.off + paddedDataSize(h)
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if isRoot(h.Name) && h.Typeflag == tar.TypeDir {
			continue // "./": the archive's root
		}
		e, err := r.entry(h)
		if err != nil {
			return nil, nil, err
		}
		return e, h, nil
	}
}

// isRoot reports whether a member name is the archive's root: ".", "./",
// "././" and the like. "../" is not: it climbs out, and is refused.
func isRoot(name string) bool {
	dot := false
	for _, elem := range strings.Split(name, "/") {
		switch elem {
		case "":
		case ".":
			dot = true
		default:
			return false
		}
	}
	return dot
}

// paddedDataSize is the number of bytes the data of the member h takes in the
// stream, as archive/tar skips them.
func paddedDataSize(h *tar.Header) int64 {
	switch h.Typeflag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return 0
	}
	if h.Size <= 0 {
		return 0
	}
	return (h.Size + blockSize - 1) / blockSize * blockSize
}

// Read reads the bytes of the current regular file.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.tr.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", ErrBadTar, err)
	}
	return n, err
}

func (r *Reader) entry(h *tar.Header) (*Entry, error) {
	fail := func(err error) (*Entry, error) { return nil, &PathError{Op: "read", Path: h.Name, Err: err} }
	name, err := reproducible.CleanMemberPath(h.Name)
	if err != nil {
		return fail(err)
	}
	if h.Mode < 0 || h.Mode > 0o7777777 {
		return fail(fmt.Errorf("%w: mode %#o", ErrBadTar, h.Mode))
	}
	e := &Entry{
		Path:    name,
		Mode:    h.Mode & reproducible.MaxMode,
		UID:     h.Uid,
		GID:     h.Gid,
		Uname:   h.Uname,
		Gname:   h.Gname,
		ModTime: h.ModTime,
	}
	for k, v := range h.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[x] = v
		}
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fail(fmt.Errorf("%w: sparse files are not supported", ErrBadTar))
		}
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		e.Kind = File
	case tar.TypeDir:
		e.Kind = Dir
	case tar.TypeSymlink:
		e.Kind, e.Linkname = Symlink, h.Linkname
		if h.Linkname == "" {
			return fail(fmt.Errorf("%w: symlink with an empty target", ErrBadTar))
		}
		if !utf8.ValidString(h.Linkname) {
			return fail(fmt.Errorf("%w: symlink target %q is not valid UTF-8", ErrUnsafePath, h.Linkname))
		}
		if r.RejectEscapingSymlinks && !strings.HasPrefix(h.Linkname, "/") {
			dir, _ := splitPath(name)
			if _, err := reproducible.CleanMemberPath(joinPath(dir, h.Linkname) + "/x"); err != nil {
				return fail(fmt.Errorf("%w: symlink target %q points outside the root", ErrUnsafePath, h.Linkname))
			}
		}
	case tar.TypeLink:
		t, err := reproducible.CleanMemberPath(h.Linkname)
		if err != nil {
			return fail(fmt.Errorf("hard link target: %w", err))
		}
		e.Kind, e.Linkname = Hardlink, t
	case tar.TypeChar:
		e.Kind, e.Devmajor, e.Devminor = CharDevice, h.Devmajor, h.Devminor
	case tar.TypeBlock:
		e.Kind, e.Devmajor, e.Devminor = BlockDevice, h.Devmajor, h.Devminor
	case tar.TypeFifo:
		e.Kind = Fifo
	case tar.TypeGNUSparse:
		return fail(fmt.Errorf("%w: sparse files are not supported", ErrBadTar))
	default:
		return fail(fmt.Errorf("%w: unsupported type flag %q", ErrBadTar, h.Typeflag))
	}
	dir, base := splitPath(name)
	if strings.HasPrefix(base, WhiteoutPrefix) {
		switch {
		case base == OpaqueMarker:
			if dir == "" {
				return fail(fmt.Errorf("%w: opaque marker at the root", ErrBadTar))
			}
			e.Kind, e.Path = Opaque, dir
		case strings.HasPrefix(base, WhiteoutPrefix+WhiteoutPrefix):
			return fail(fmt.Errorf("%w: %q is a reserved whiteout name", ErrBadTar, base))
		case base == WhiteoutPrefix || base == WhiteoutPrefix+"." || base == WhiteoutPrefix+"..":
			return fail(fmt.Errorf("%w: malformed whiteout %q", ErrUnsafePath, base))
		default:
			e.Kind, e.Path = Whiteout, joinPath(dir, strings.TrimPrefix(base, WhiteoutPrefix))
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
			return fail(fmt.Errorf("%w: whiteout is a %q entry, not a regular file", ErrBadTar, h.Typeflag))
		}
	}
	return e, nil
}

// IsBadInput reports whether err is about the input (a hostile or broken tar
// or path) rather than about I/O.
func IsBadInput(err error) bool {
	return errors.Is(err, ErrBadTar) || errors.Is(err, ErrUnsafePath) || errors.Is(err, ErrConflict) ||
		errors.Is(err, ErrDuplicatePath) || errors.Is(err, ErrBadSource)
}
