package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
)

func init() { verbs = append(verbs, newUnpackCommand) }

func newUnpackCommand(e env) *cobra.Command {
	var (
		platform, metadata       string
		applyOwners, skipDevices bool
	)
	cmd := &cobra.Command{
		Use:   "unpack IMAGE DIR",
		Short: "Unpack an image's filesystem into a directory, safely",
		Long: `Apply an image's layers, lowest first, to DIR (which must not exist or be
empty), with whiteouts and opaque directories as the image-spec says
(docs/unpack.md). Every path is hostile: nothing is written outside DIR, whether
through "..", absolute names, or a symlink an earlier entry or layer planted
(paths resolve inside DIR as they would in the container). A layer that tries
is an error naming the entry.

Modes and mtimes are applied. Owners are recorded, not applied, unless
--apply-owners is given (it needs root). Device nodes are made only as root on
Linux; otherwise, or with --skip-devices, each is skipped with a warning.
Xattrs are recorded, never applied. --metadata writes the record: every path
with the owner, mtime, xattrs and device numbers its header gave.

IMAGE is an OCI layout directory, an OCI archive, a Docker archive, PATH:REF or
a registry reference; --platform chooses the image of an index.`,
		Example: `  imagewriter unpack out/layout rootfs
  imagewriter unpack --platform linux/arm64 --metadata rootfs.json app.tar rootfs`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[1]
			if err := emptyDir(dir); err != nil {
				return err
			}
			o, img, err := resolveImage(cmd, e, args[0], platform)
			if err != nil {
				return err
			}
			defer o.Close()
			res, err := unpack.Image(cmd.Context(), o, img, dir, unpack.Options{ApplyOwners: applyOwners, SkipDevices: skipDevices})
			if err != nil {
				return err
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(cmd.ErrOrStderr(), "imagewriter unpack: warning: %s: %s not created: %s\n", s.Path, s.Kind, s.Reason)
			}
			if metadata != "" {
				if err := writeRecord(metadata, res); err != nil {
					return err
				}
			}
			cmd.Printf("%s %s %s: %d paths from %d layers\n", dir, img.Manifest.Descriptor.Digest, image.PlatformString(img.Platform), len(res.Entries), len(img.Layers))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&platform, "platform", "", "the platform (os/arch[/variant]) to unpack from an index")
	f.StringVar(&metadata, "metadata", "", "write the record of every path (owners, mtimes, xattrs, devices) to this JSON file")
	f.BoolVar(&applyOwners, "apply-owners", false, "set each path's uid and gid (needs root)")
	f.BoolVar(&skipDevices, "skip-devices", false, "never create device nodes, even as root")
	return cmd
}

// resolveImage opens an image argument and resolves it to one platform's
// image.
func resolveImage(cmd *cobra.Command, e env, arg, platform string) (*openedImage, image.Image, error) {
	var p *ocispec.Platform
	if platform != "" {
		pp, err := image.ParsePlatform(platform)
		if err != nil {
			return nil, image.Image{}, usagef("--platform: %v", err)
		}
		p = &pp
	}
	o, err := openImage(cmd.Context(), arg, e)
	if err != nil {
		return nil, image.Image{}, err
	}
	img, err := image.Resolve(cmd.Context(), o, o.Root, p)
	if err != nil {
		o.Close()
		return nil, image.Image{}, fmt.Errorf("%s: %w", arg, err)
	}
	return o, img, nil
}

// emptyDir makes dir, or checks that it is an empty directory: unpacking
// into a tree that holds files would let whiteouts remove them.
func emptyDir(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return usagef("%s: not a directory", dir)
	}
	if _, err := f.Readdirnames(1); err != io.EOF {
		if err == nil {
			return usagef("%s: not empty; unpack into a new or empty directory", dir)
		}
		return err
	}
	return nil
}

// record is one path of the unpack record file.
type record struct {
	Path     string            `json:"path"`
	Type     string            `json:"type"`
	Mode     string            `json:"mode"`
	UID      int               `json:"uid"`
	GID      int               `json:"gid"`
	Uname    string            `json:"uname,omitempty"`
	Gname    string            `json:"gname,omitempty"`
	Mtime    string            `json:"mtime"`
	Linkname string            `json:"linkname,omitempty"`
	Devmajor int64             `json:"devmajor,omitempty"`
	Devminor int64             `json:"devminor,omitempty"`
	Xattrs   map[string]string `json:"xattrs,omitempty"`
	Skipped  string            `json:"skipped,omitempty"`
}

func writeRecord(path string, res unpack.Result) error {
	skipped := map[string]string{}
	for _, s := range res.Skipped {
		skipped[s.Path] = s.Reason
	}
	out := struct {
		Version int      `json:"version"`
		Paths   []record `json:"paths"`
	}{Version: 1, Paths: []record{}}
	for _, en := range res.Entries {
		r := record{
			Path: en.Path, Type: en.Kind.String(), Mode: fmt.Sprintf("%04o", en.Mode), UID: en.UID, GID: en.GID,
			Uname: en.Uname, Gname: en.Gname, Mtime: en.ModTime.UTC().Format(time.RFC3339Nano),
			Xattrs: en.Xattrs, Skipped: skipped[en.Path],
		}
		if en.Kind == layer.Symlink {
			r.Linkname = en.Linkname
		}
		if en.Kind == layer.CharDevice || en.Kind == layer.BlockDevice {
			r.Devmajor, r.Devminor = en.Devmajor, en.Devminor
		}
		out.Paths = append(out.Paths, r)
	}
	b, err := reproducible.MarshalIndent(out)
	if err != nil {
		return err
	}
	return reproducible.WriteFileAtomic(path, b)
}
