package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

func init() { verbs = append(verbs, newLayerCommand) }

func newLayerCommand(e env) *cobra.Command {
	var (
		spec, output, metadata, platform string
		comp                             compressionFlags
		mt                               mtimeFlags
	)
	cmd := &cobra.Command{
		Use:   "layer --spec FILE --output BLOB",
		Short: "Build one reproducible layer blob from a layer spec",
		Long: `Build one layer blob from a JSON layer spec (docs/layer-spec.md) and write its
metadata (descriptor, diffID, uncompressed size, compression) next to it.

Relative sources in the spec resolve against the spec file's directory.
Entries are sorted by path; every mtime defaults to the Unix epoch, owners to
0:0, files to 0644 (0755 when the source is executable), directories to 0755.
The blob and the metadata are written under temporary names and renamed when
complete: on any error neither exists.`,
		Example: `  imagewriter layer --spec layer.json --output layer.tar.gz
  imagewriter layer --spec layer.json --compression zstd --level 9 --output layer.tar.zst`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if spec == "" || output == "" {
				return usagef("--spec and --output are required")
			}
			if metadata == "" {
				metadata = output + ".json"
			}
			mtime, err := mt.resolve(e)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(spec)
			if err != nil {
				return err
			}
			sf, err := layer.ParseSpecFile(spec, b)
			if err != nil {
				return err
			}
			c, err := comp.resolve(cmd, sf.Compression)
			if err != nil {
				return err
			}
			s, err := sf.Spec(layer.ResolveOptions{
				BaseDir:        filepath.Dir(spec),
				Platform:       platform,
				DefaultModTime: mtime,
				TempDir:        filepath.Dir(output),
			})
			if err != nil {
				return err
			}
			defer s.Close()
			m, err := layer.WriteFiles(cmd.Context(), s, layer.BuildOptions{Compression: c}, output, metadata)
			if err != nil {
				return err
			}
			cmd.Printf("%s %s diffID=%s size=%d\n", output, m.Descriptor.Digest, m.DiffID, m.Descriptor.Size)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec, "spec", "", "layer spec (JSON) to build (required)")
	f.StringVarP(&output, "output", "o", "", "where to write the layer blob (required)")
	f.StringVar(&metadata, "metadata", "", "where to write the layer metadata JSON (default: OUTPUT.json)")
	f.StringVar(&platform, "platform", "", "platform (os/arch[/variant]) that selects per-platform sources")
	comp.register(cmd)
	mt.register(cmd)
	return cmd
}
