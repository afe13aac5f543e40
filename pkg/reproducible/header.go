package reproducible

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
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
//   - Text fields (a symlink's target, Uname, Gname, PAX record names) must
//     be valid UTF-8 without NUL bytes, as names are (CleanMemberPath): PAX
//     records are UTF-8, and archive/tar cannot write a NUL. xattr values
//     are bytes and may hold anything.
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
	if msg := checkText("uname", h.Uname); msg != "" {
		return fail("%s", msg)
	}
	if msg := checkText("gname", h.Gname); msg != "" {
		return fail("%s", msg)
	}
	for k := range h.PAXRecords {
		if msg := checkText("PAX record name", k); msg != "" {
			return fail("%s", msg)
		}
		if k == "" || k == "SCHILY.xattr." || strings.Contains(k, "=") {
			return fail("PAX record name %q: empty, or holds '='", k)
		}
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
		if msg := checkText("symlink target", h.Linkname); msg != "" {
			return fail("%s", msg)
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

// checkText returns why s cannot be a text field of a header, or "".
func checkText(field, s string) string {
	switch {
	case !utf8.ValidString(s):
		return fmt.Sprintf("%s %q is not valid UTF-8", field, s)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Sprintf("%s %q holds a NUL byte", field, s)
	}
	return ""
}
