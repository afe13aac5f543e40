package main

import (
	"bufio"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
)

func init() { verbs = append(verbs, newFlattenCommand) }

func newFlattenCommand(e env) *cobra.Command {
	var (
		platform, output, metadata, tmpDir string
		comp                               compressionFlags
	)
	cmd := &cobra.Command{
		Use:   "flatten IMAGE -o LAYER",
		Short: "Write an image's merged filesystem as one deterministic layer tar",
		Long: `Apply an image's layers (as 'imagewriter unpack' does, with the same defences
against hostile paths) into a temporary directory and write the merged
filesystem as one layer: entries sorted, whiteouts applied (none remain), the
owners, mtimes and xattrs the layers' headers gave, hard links kept, device
nodes included even when they could not be made on disk. The same image always
gives the same bytes.

The layer is an uncompressed tar unless --compression asks for gzip or zstd.
--metadata also writes its layer metadata (descriptor, diffID), as
'imagewriter layer' does. The temporary directory (--tmpdir, default next to
the output) needs room for the whole filesystem.`,
		Example: `  imagewriter flatten out/layout -o rootfs.tar
  imagewriter flatten --platform linux/arm64 app.tar -o rootfs.tar.zst --compression zstd --metadata rootfs.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return usagef("-o/--output is required")
			}
			c, err := comp.resolve(cmd, &reproducible.Compression{Algorithm: reproducible.None})
			if err != nil {
				return err
			}
			o, img, err := resolveImage(cmd, e, args[0], platform)
			if err != nil {
				return err
			}
			defer o.Close()
			if tmpDir == "" {
				tmpDir = filepath.Dir(output)
			}
			work, err := os.MkdirTemp(tmpDir, ".imagewriter-flatten-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			s, _, err := unpack.Flatten(cmd.Context(), o, img, work)
			if err != nil {
				return err
			}
			defer s.Close()
			opts := layer.BuildOptions{Compression: c}
			var m layer.Metadata
			if metadata != "" {
				m, err = layer.WriteFiles(cmd.Context(), s, opts, output, metadata)
			} else {
				m, err = writeLayer(cmd, s, opts, output)
			}
			if err != nil {
				return err
			}
			cmd.Printf("%s %s diffID=%s size=%d entries=%d\n", output, m.Descriptor.Digest, m.DiffID, m.Descriptor.Size, len(s.Entries()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&platform, "platform", "", "the platform (os/arch[/variant]) to flatten from an index")
	f.StringVarP(&output, "output", "o", "", "where to write the layer (required)")
	f.StringVar(&metadata, "metadata", "", "also write the layer metadata JSON here")
	f.StringVar(&tmpDir, "tmpdir", "", "where to unpack while flattening (default: the output's directory)")
	comp.register(cmd)
	cmd.Flags().Lookup("compression").Usage = "layer compression: none (default), gzip or zstd"
	return cmd
}

// writeLayer builds s into path atomically, without a metadata file.
func writeLayer(cmd *cobra.Command, s *layer.Spec, opts layer.BuildOptions, path string) (layer.Metadata, error) {
	p, err := reproducible.CreatePending(path)
	if err != nil {
		return layer.Metadata{}, err
	}
	defer p.Abort()
	bw := bufio.NewWriterSize(p, 1<<20)
	m, err := layer.Build(cmd.Context(), bw, s, opts)
	if err != nil {
		return layer.Metadata{}, err
	}
	if err := bw.Flush(); err != nil {
		return layer.Metadata{}, err
	}
	return m, p.Commit()
}
