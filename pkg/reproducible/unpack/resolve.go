package unpack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// maxSymlinks bounds how many symlinks one resolution follows, as the
// kernel's ELOOP limit does.
const maxSymlinks = 255

// errNotExist is returned by resolveDir, when asked not to create, for a
// directory that is missing.
var errNotExist = errors.New("does not exist")

// root resolves in-image paths to host paths that are inside it, whatever
// the symlinks already written there say. It works like
// github.com/cyphar/filepath-securejoin: the path is walked one component at
// a time with Lstat; a symlink is read and its target spliced into the rest
// of the walk, an absolute target restarting at the root and a ".." stopping
// at it, which is how the target resolves when the root is a container's "/".
// The result therefore never names anything outside the root.
//
// The resolution is only as good as the directory is quiet: nothing else may
// change the tree while it is being unpacked.
type root struct {
	dir string // the host directory, absolute
}

// host turns a resolved, slash-separated relative path into a host path.
func (r root) host(rel string) string {
	if rel == "" {
		return r.dir
	}
	return filepath.Join(r.dir, filepath.FromSlash(rel))
}

// resolveDir resolves the directory rel ("" for the root) inside the root,
// following every symlink on the way, and returns its resolved relative
// path. A missing component is made with mkdir (and reported to made) when
// create is set; otherwise the error wraps errNotExist. A component that is
// neither a directory nor a symlink is an error.
func (r root) resolveDir(rel string, create bool, made func(rel string) error) (string, error) {
	todo := splitComponents(rel)
	cur := ""
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = parentOf(cur) // stops at the root
			continue
		}
		next := joinRel(cur, c)
		fi, err := os.Lstat(r.host(next))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !create {
				return "", fmt.Errorf("%s: %w", next, errNotExist)
			}
			if err := os.Mkdir(r.host(next), 0o700); err != nil {
				return "", err
			}
			if made != nil {
				if err := made(next); err != nil {
					return "", err
				}
			}
			cur = next
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			links++
			if links > maxSymlinks {
				return "", fmt.Errorf("%w: %s: more than %d symlinks", layer.ErrUnsafePath, rel, maxSymlinks)
			}
			target, err := os.Readlink(r.host(next))
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				cur = ""
			}
			todo = append(splitComponents(target), todo...)
		case fi.IsDir():
			cur = next
		default:
			return "", fmt.Errorf("%s: %w: not a directory", next, errNotDir)
		}
	}
	return cur, nil
}

var errNotDir = errors.New("parent is not a directory")

func splitComponents(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func parentOf(rel string) string {
	d := path.Dir(rel)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

func joinRel(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

func splitRel(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// within reports whether rel is p or below it.
func within(rel, p string) bool {
	return p == "" || rel == p || strings.HasPrefix(rel, p+"/")
}
