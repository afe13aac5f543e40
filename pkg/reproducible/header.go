package reproducible

import (
	"archive/tar"
	"errors"
	"fmt"
	"time"
)

// MaxMode is the largest permission mode a tar entry may carry: permission
// bits plus setuid, setgid and sticky. File type lives in Typeflag.
const MaxMode = 0o7777

// ErrHeader is wrapped by every error NormalizeHeader returns.
var ErrHeader = errors.New("invalid tar header")

// NormalizeHeader returns the canonical form of h, the only form the writer
// puts in a layer:
//
//   - Name is cleaned (CleanMemberPath); directories get a trailing "/".
//   - Linkname of a hard link is cleaned the same way; a symlink's target is
//     kept verbatim (it is resolved at run time, not by us).
//   - ModTime is UTC whole seconds; AccessTime and ChangeTime are dropped.
//   - Devmajor and Devminor are kept only on character and block devices.
//   - Size is 0 for everything but regular files.
//   - Mode must be within 0..07777.
//   - Format is PAX: archive/tar then writes a plain USTAR block and adds PAX
//     records only where a field does not fit (long or non-ASCII names, sizes
//     over 8 GiB, large ids, xattrs). It never picks GNU.
//
// Uid, Gid, Uname, Gname and PAXRecords are kept as given; the caller decides
// ownership. h is not modified.
func NormalizeHeader(h tar.Header) (tar.Header, error) {
	fail := func(format string, args ...any) (tar.Header, error) {
		return tar.Header{}, fmt.Errorf("%s: %w: %s", h.Name, ErrHeader, fmt.Sprintf(format, args...))
	}
	name, err := CleanMemberPath(h.Name)
	if err != nil {
		return tar.Header{}, fmt.Errorf("%s: %w", h.Name, err)
	}
	if h.Mode < 0 || h.Mode > MaxMode {
		return fail("mode %#o outside 0..07777", h.Mode)
	}
	if h.Uid < 0 || h.Gid < 0 {
		return fail("negative uid or gid")
	}
	out := tar.Header{
		Typeflag:   h.Typeflag,
		Name:       name,
		Mode:       h.Mode,
		Uid:        h.Uid,
		Gid:        h.Gid,
		Uname:      h.Uname,
		Gname:      h.Gname,
		ModTime:    h.ModTime.UTC().Truncate(time.Second),
		PAXRecords: h.PAXRecords,
		Format:     tar.FormatPAX,
	}
	if out.ModTime.Before(Epoch) {
		return fail("mtime %s is before 1970", h.ModTime.UTC().Format(time.RFC3339))
	}
	switch h.Typeflag {
	case tar.TypeReg:
		if h.Size < 0 {
			return fail("negative size")
		}
		out.Size = h.Size
	case tar.TypeDir:
		out.Name += "/"
	case tar.TypeSymlink:
		if h.Linkname == "" {
			return fail("symlink with an empty target")
		}
		out.Linkname = h.Linkname
	case tar.TypeLink:
		target, err := CleanMemberPath(h.Linkname)
		if err != nil {
			return fail("hard link target: %v", err)
		}
		out.Linkname = target
	case tar.TypeChar, tar.TypeBlock:
		out.Devmajor, out.Devminor = h.Devmajor, h.Devminor
	case tar.TypeFifo:
	default:
		return fail("unsupported type flag %q", h.Typeflag)
	}
	return out, nil
}
