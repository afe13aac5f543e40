package verify

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// tarFS serves the members of an uncompressed tar archive (an OCI or
// Docker archive) as an fs.FS, read in place.
type tarFS struct {
	r       io.ReaderAt
	members map[string]member
}

type member struct{ off, size int64 }

var _ fs.FS = (*tarFS)(nil)

// readArchive indexes an archive's members. The archive is hostile input:
// a compressed, corrupt or truncated archive (no end-of-archive marker), a
// member whose name is unsafe, that is not a regular file, a directory or
// a symlink to another member (docker save writes <id>/layer.tar so),
// that is sparse, or that appears twice, is a problem of "archive". It
// returns nil when nothing can be read.
func (c *checker) readArchive(ctx context.Context, r io.ReaderAt, size int64) *tarFS {
	at := location{blob: "archive"}
	head := make([]byte, 4)
	n, _ := r.ReadAt(head, 0)
	if a := reproducible.Detect(head[:n]); a != reproducible.None {
		c.problem(at, ErrInvalid, "%s: decompress it first", describe(a))
		return nil
	}
	pr := &posReader{r: io.NewSectionReader(r, 0, size)}
	tr := tar.NewReader(pr)
	t := &tarFS{r: r, members: map[string]member{}}
	links := map[string]string{} // member: the member it is a symlink to
	entries, clean := 0, false
	for {
		if c.stopped(ctx) {
			return nil
		}
		h, err := tr.Next()
		if err == io.EOF {
			clean = true
			break
		}
		if err != nil {
			c.problem(at, layer.ErrBadTar, "not a tar archive, or truncated: %v", err)
			break
		}
		entries++
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		mat := location{"archive", h.Name}
		name, err := reproducible.CleanMemberPath(h.Name)
		if err != nil {
			c.problem(mat, layer.ErrUnsafePath, "%v", err)
			continue
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if _, dup := t.members[name]; dup || links[name] != "" {
			c.problem(mat, layer.ErrDuplicatePath, "the archive holds %s twice", name)
			continue
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			target, err := reproducible.CleanMemberPath(path.Dir(name) + "/" + h.Linkname)
			if err != nil || strings.HasPrefix(h.Linkname, "/") {
				c.problem(mat, layer.ErrUnsafePath, "symlink to %q: outside the archive", h.Linkname)
				continue
			}
			links[name] = target
			continue
		case tar.TypeReg:
		default:
			c.problem(mat, ErrInvalid, "type %q: an image archive holds only regular files, directories and symlinks between them", h.Typeflag)
			continue
		}
		sparse := false
		for k := range h.PAXRecords {
			sparse = sparse || strings.HasPrefix(k, "GNU.sparse.")
		}
		if sparse {
			c.problem(mat, ErrInvalid, "a sparse file: an image archive holds only plain files")
			continue
		}
		t.members[name] = member{off: pr.pos, size: h.Size}
	}
	// archive/tar ends cleanly at any block boundary: an archive cut
	// between members would read as a shorter one. Require the zero block
	// that ends every tar.
	if clean && entries > 0 {
		var blk [512]byte
		if pr.pos < int64(len(blk)) {
			c.problem(at, layer.ErrBadTar, "truncated: no end-of-archive marker")
		} else if _, err := r.ReadAt(blk[:], pr.pos-int64(len(blk))); err != nil || blk != [512]byte{} {
			c.problem(at, layer.ErrBadTar, "truncated: no end-of-archive marker")
		}
	}
	for name, target := range links {
		m, ok := t.members[target]
		for hops := 0; !ok && links[target] != "" && hops < 8; hops++ {
			target = links[target]
			m, ok = t.members[target]
		}
		if !ok {
			c.problem(location{"archive", name}, blob.ErrNotFound, "symlink to %q: no such file in the archive", links[name])
			continue
		}
		t.members[name] = m
	}
	return t
}

func (t *tarFS) has(name string) bool { _, ok := t.members[name]; return ok }

func (t *tarFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	m, ok := t.members[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &tarFile{SectionReader: io.NewSectionReader(t.r, m.off, m.size), name: path.Base(name)}, nil
}

type tarFile struct {
	*io.SectionReader
	name string
}

func (f *tarFile) Stat() (fs.FileInfo, error) { return tarInfo{f.name, f.Size()}, nil }
func (f *tarFile) Close() error               { return nil }

type tarInfo struct {
	name string
	size int64
}

func (i tarInfo) Name() string       { return i.name }
func (i tarInfo) Size() int64        { return i.size }
func (i tarInfo) Mode() fs.FileMode  { return 0o444 }
func (i tarInfo) ModTime() time.Time { return time.Time{} }
func (i tarInfo) IsDir() bool        { return false }
func (i tarInfo) Sys() any           { return nil }

// posReader knows its offset, so that a member's data can be found after
// tar.Reader.Next; it seeks, so that tar.Reader skips data without reading.
type posReader struct {
	r   *io.SectionReader
	pos int64
}

func (p *posReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.pos += int64(n)
	return n, err
}

func (p *posReader) Seek(off int64, whence int) (int64, error) {
	n, err := p.r.Seek(off, whence)
	if err == nil {
		p.pos = n
	}
	return n, err
}
