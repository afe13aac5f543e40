// Package layer builds OCI layers: a sorted, duplicate-free Spec of entries is
// streamed once into tar, hashed (DiffID), compressed and hashed again
// (digest), in constant memory. It also reads hostile tar streams.
package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// Kind is what an entry is.
type Kind int

// The kinds of entries a layer holds.
const (
	File Kind = iota + 1
	Dir
	Symlink
	Hardlink
	CharDevice
	BlockDevice
	Fifo
	// Whiteout deletes Path from lower layers; it is written as
	// "dir/.wh.name".
	Whiteout
	// Opaque hides every lower-layer child of the directory Path; it is
	// written as "Path/.wh..wh..opq".
	Opaque
)

// Whiteout names, as the OCI image-spec layer changeset defines them:
// https://github.com/opencontainers/image-spec/blob/v1.1.1/layer.md#whiteouts
const (
	WhiteoutPrefix = ".wh."
	OpaqueMarker   = ".wh..wh..opq"
)

var kindNames = map[Kind]string{
	File: "file", Dir: "dir", Symlink: "symlink", Hardlink: "hardlink",
	CharDevice: "char", BlockDevice: "block", Fifo: "fifo",
	Whiteout: "whiteout", Opaque: "opaque",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Sentinels callers branch on.
var (
	ErrDuplicatePath = errors.New("duplicate path")
	// ErrUnsafePath is reproducible.ErrUnsafePath: one sentinel for every
	// unsafe path, whichever part found it.
	ErrUnsafePath = reproducible.ErrUnsafePath
	ErrConflict   = errors.New("conflicting entries")
	ErrBadSource  = errors.New("bad source")
	ErrBadTar     = errors.New("bad tar")
)

// PathError is an error about one in-image path, and where it came from.
type PathError struct {
	Op     string // what was being done: "spec", "read", "tar", "build"
	Path   string // the in-image path
	Source string // where the entry came from, e.g. `entries[3] (source "bin/app")`
	Err    error
}

func (e *PathError) Error() string {
	s := e.Path
	if s == "" || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		s = strconv.Quote(s) // an empty, binary or hostile name, shown safely
	}
	if e.Source != "" {
		s += " (from " + e.Source + ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *PathError) Unwrap() error { return e.Err }

// Entry is one path in a layer: its header fields and, for regular files,
// where its bytes come from.
type Entry struct {
	Path    string // cleaned, relative, no trailing slash; for whiteouts the deleted path
	Kind    Kind
	Mode    int64 // permission bits, 0..07777
	UID     int
	GID     int
	Uname   string
	Gname   string
	ModTime time.Time
	// Linkname is a symlink's target (verbatim) or a hard link's target path
	// (cleaned, inside the layer).
	Linkname string
	Devmajor int64
	Devminor int64
	// Xattrs become SCHILY.xattr.* PAX records.
	Xattrs map[string]string
	// Source supplies a regular file's bytes; nil means empty.
	Source Source
	// Origin says where the entry came from, for error messages.
	Origin string
}

// Source supplies a regular file's bytes. It is a closed set: a file on disk,
// inline bytes or a member of an input tar.
type Source interface {
	// Size is the number of bytes Open yields.
	Size() int64
	// Open returns the bytes. It is called once, during Build.
	Open() (io.ReadCloser, error)
	String() string
	source()
}

// DiskFile is a Source read from a regular file on the host. Its size is
// taken when the spec is made; a file that changes size before Build is an
// error, not a silently different layer.
type DiskFile struct {
	Path string
	size int64
}

// NewDiskFile stats path and refuses anything but a regular file (after
// following symlinks): directories, devices, sockets and FIFOs are errors.
func NewDiskFile(path string) (*DiskFile, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w: %s is a %s, not a regular file", ErrBadSource, path, fileType(fi.Mode()))
	}
	return &DiskFile{Path: path, size: fi.Size()}, fi, nil
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSymlink != 0:
		return "symlink"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

func (d *DiskFile) Size() int64 { return d.size }

func (d *DiskFile) Open() (io.ReadCloser, error) {
	f, err := os.Open(d.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	return f, nil
}

func (d *DiskFile) String() string { return d.Path }
func (*DiskFile) source()          {}

// Inline is a Source of bytes held in memory.
type Inline []byte

func (b Inline) Size() int64                  { return int64(len(b)) }
func (b Inline) Open() (io.ReadCloser, error) { return io.NopCloser(newBytesReader(b)), nil }
func (b Inline) String() string               { return fmt.Sprintf("inline content (%d bytes)", len(b)) }
func (Inline) source()                        {}

// header is the tar header of e, before normalization.
func (e *Entry) header() tar.Header {
	h := tar.Header{
		Name:     e.Path,
		Mode:     e.Mode,
		Uid:      e.UID,
		Gid:      e.GID,
		Uname:    e.Uname,
		Gname:    e.Gname,
		ModTime:  e.ModTime,
		Linkname: e.Linkname,
		Devmajor: e.Devmajor,
		Devminor: e.Devminor,
	}
	switch e.Kind {
	case File:
		h.Typeflag = tar.TypeReg
		if e.Source != nil {
			h.Size = e.Source.Size()
		}
	case Dir:
		h.Typeflag = tar.TypeDir
	case Symlink:
		h.Typeflag = tar.TypeSymlink
	case Hardlink:
		h.Typeflag = tar.TypeLink
	case CharDevice:
		h.Typeflag = tar.TypeChar
	case BlockDevice:
		h.Typeflag = tar.TypeBlock
	case Fifo:
		h.Typeflag = tar.TypeFifo
	case Whiteout, Opaque:
		h.Typeflag = tar.TypeReg
		h.Name = e.tarName()
	}
	if len(e.Xattrs) > 0 {
		h.PAXRecords = make(map[string]string, len(e.Xattrs))
		for k, v := range e.Xattrs {
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	return h
}

// tarName is the entry's name in the tar, without the trailing "/" of
// directories: the key entries are sorted by.
func (e *Entry) tarName() string {
	switch e.Kind {
	case Whiteout:
		dir, base := splitPath(e.Path)
		return joinPath(dir, WhiteoutPrefix+base)
	case Opaque:
		return joinPath(e.Path, OpaqueMarker)
	}
	return e.Path
}
