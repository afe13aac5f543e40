package reproducible

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrUnsafePath is wrapped by every error about a path that is empty, names the
// root itself, climbs out of the root, holds a NUL byte or is not valid UTF-8.
var ErrUnsafePath = errors.New("unsafe path")

// CleanPath turns a destination path inside an image into its canonical form:
// relative, slash-separated, no "." or ".." elements, no trailing slash. A
// leading "/" is accepted and dropped (users write "/usr/bin/app"); "./" is
// dropped too. ".." that would climb above the root, an empty result, the
// root itself, NUL bytes and invalid UTF-8 are errors wrapping ErrUnsafePath.
//
// Names that are not valid UTF-8 are rejected rather than kept as bytes: PAX
// records, which long and non-ASCII names need, must be UTF-8, and OCI tools
// disagree on how to treat raw bytes.
func CleanPath(p string) (string, error) {
	return cleanPath(p, true)
}

// CleanMemberPath is CleanPath for names read from a tar archive, which is
// hostile input: an absolute name is an error instead of being made relative.
func CleanMemberPath(p string) (string, error) {
	return cleanPath(p, false)
}

func cleanPath(p string, allowAbs bool) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%w: empty path", ErrUnsafePath)
	}
	if !utf8.ValidString(p) {
		return "", fmt.Errorf("%w: %q is not valid UTF-8", ErrUnsafePath, p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("%w: %q holds a NUL byte", ErrUnsafePath, p)
	}
	if strings.HasPrefix(p, "/") && !allowAbs {
		return "", fmt.Errorf("%w: %q is absolute", ErrUnsafePath, p)
	}
	// Check for climbing before path.Clean, which would silently clamp
	// "/../x" to "/x".
	depth := 0
	for _, elem := range strings.Split(p, "/") {
		switch elem {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", fmt.Errorf("%w: %q climbs out of the root", ErrUnsafePath, p)
			}
		default:
			depth++
		}
	}
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" {
		return "", fmt.Errorf("%w: %q names the root itself", ErrUnsafePath, p)
	}
	return c, nil
}

// ComparePaths orders cleaned paths by their bytes, which also puts every
// directory before its children. It is the order of entries in every layer.
func ComparePaths(a, b string) int {
	return strings.Compare(a, b)
}

// ReadDirNames lists a host directory sorted by name bytes, whatever order
// the file system returns: every walk of the host's files uses it.
func ReadDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}
