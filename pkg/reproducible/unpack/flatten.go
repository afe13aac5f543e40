package unpack

import (
	"context"
	"fmt"
	"os"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// Spec returns the layer spec of the tree res describes, which an Unpacker
// wrote into dir: one entry per path, with the metadata the layers' headers
// gave, the bytes of regular files read from dir, and paths that share an
// inode on disk stored as hard links to the first of them. Whiteouts have
// been applied, so the spec holds none. Building it gives the image's
// filesystem as one deterministic layer; the caller closes the spec.
func Spec(dir string, res Result) (*layer.Spec, error) {
	r := root{dir: dir}
	skipped := map[string]bool{}
	for _, s := range res.Skipped {
		skipped[s.Path] = true
	}
	type inodeKey struct{ dev, ino uint64 }
	first := map[inodeKey]string{}
	entries := make([]layer.Entry, 0, len(res.Entries))
	for _, e := range res.Entries {
		e.Origin = "unpacked " + e.Path
		if skipped[e.Path] {
			entries = append(entries, e)
			continue
		}
		host := r.host(e.Path)
		fi, err := os.Lstat(host)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Path, err)
		}
		if got, want := kindOf(fi.Mode()), e.Kind; got != want {
			return nil, fmt.Errorf("%s: is a %v on disk, a %v in the layers: the tree changed after unpacking", e.Path, got, want)
		}
		if e.Kind == layer.File {
			if dev, ino, nlink, ok := inode(fi); ok && nlink > 1 {
				k := inodeKey{dev, ino}
				if t, ok := first[k]; ok {
					e.Kind, e.Linkname = layer.Hardlink, t
					entries = append(entries, e)
					continue
				}
				first[k] = e.Path
			}
			df, _, err := layer.NewDiskFile(host)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Path, err)
			}
			e.Source = df
		}
		entries = append(entries, e)
	}
	return layer.NewSpec(entries, layer.SpecOptions{})
}

func kindOf(m os.FileMode) layer.Kind {
	switch {
	case m.IsRegular():
		return layer.File
	case m.IsDir():
		return layer.Dir
	case m&os.ModeSymlink != 0:
		return layer.Symlink
	case m&os.ModeNamedPipe != 0:
		return layer.Fifo
	case m&os.ModeCharDevice != 0:
		return layer.CharDevice
	case m&os.ModeDevice != 0:
		return layer.BlockDevice
	}
	return 0
}

// Flatten unpacks img into workDir (an existing, empty directory the caller
// removes afterwards; it needs room for the whole filesystem) and returns
// the spec of its merged filesystem, as Spec does. Files on disk keep owner
// access so that they can be read back; devices are never made, only
// recorded.
func Flatten(ctx context.Context, f blob.Fetcher, img image.Image, workDir string) (*layer.Spec, Result, error) {
	res, err := Image(ctx, f, img, workDir, Options{OwnerAccess: true, SkipDevices: true})
	if err != nil {
		return nil, Result{}, err
	}
	s, err := Spec(workDir, res)
	if err != nil {
		return nil, Result{}, err
	}
	return s, res, nil
}
