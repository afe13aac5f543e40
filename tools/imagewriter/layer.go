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
		baseDir                          string
		quiet                            bool
		comp                             compressionFlags
		mt                               mtimeFlags
		fd                               fromDiffFlags
	)
	cmd := &cobra.Command{
		Use:   "layer (--spec FILE | --from-diff LOWER UPPER) --output BLOB",
		Short: "Build one reproducible layer blob from a layer spec",
		Long: `Build one layer blob from a JSON layer spec (docs/layer-spec.md) and write its
metadata (descriptor, diffID, uncompressed size, compression) next to it.

Relative sources in the spec resolve against the spec file's directory, or
against --base-dir when given (Bazel passes --base-dir . and execroot paths).
Entries are sorted by path; every mtime defaults to the Unix epoch, owners to
0:0, files to 0644 (0755 when the source is executable), directories to 0755.
The blob and the metadata are written under temporary names and renamed when
complete: on any error neither exists.

With --from-diff LOWER UPPER, the layer is the changeset that turns the
directory LOWER into the directory UPPER (docs/unpack.md): added and changed
paths, whiteouts for removed ones, opaque markers for emptied directories, hard
links kept. Mtimes and owners are ignored and reset unless --preserve-mtime or
--preserve-owners ask for them.`,
		Example: `  imagewriter layer --spec layer.json --output layer.tar.gz
  imagewriter layer --spec layer.json --compression zstd --level 9 --output layer.tar.zst
  imagewriter layer --from-diff rootfs-before rootfs-after --output changes.tar.gz`,
		Args: fd.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			quietly(cmd, quiet)
			if fd.enabled {
				return fd.run(cmd, e, args, spec, output, metadata, comp, mt)
			}
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
			if baseDir == "" {
				baseDir = filepath.Dir(spec)
			}
			s, err := sf.Spec(layer.ResolveOptions{
				BaseDir:        baseDir,
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
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
	f.StringVar(&baseDir, "base-dir", "", "directory relative sources resolve against (default: the spec file's directory)")
	f.StringVar(&platform, "platform", "", "platform (os/arch[/variant]) that selects per-platform sources")
	comp.register(cmd)
	mt.register(cmd)
	fd.register(cmd)
	return cmd
}

// --from-diff: a layer from two directory snapshots (layer.FromDiff).

type fromDiffFlags struct {
	enabled                       bool
	preserveMtime, preserveOwners bool
}

func (f *fromDiffFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.enabled, "from-diff", false, "build the changeset from directory LOWER to directory UPPER (two arguments) instead of a spec")
	fl.BoolVar(&f.preserveMtime, "preserve-mtime", false, "with --from-diff: keep UPPER's mtimes and count mtime changes")
	fl.BoolVar(&f.preserveOwners, "preserve-owners", false, "with --from-diff: keep UPPER's uid/gid and count owner changes")
}

func (f *fromDiffFlags) args(cmd *cobra.Command, args []string) error {
	if f.enabled {
		if len(args) != 2 {
			return usagef("--from-diff takes two directories, LOWER and UPPER; got %d arguments", len(args))
		}
		return nil
	}
	if f.preserveMtime || f.preserveOwners {
		return usagef("--preserve-mtime and --preserve-owners go with --from-diff")
	}
	return noArgs(cmd, args)
}

func (f *fromDiffFlags) run(cmd *cobra.Command, e env, args []string, spec, output, metadata string, comp compressionFlags, mt mtimeFlags) error {
	if spec != "" {
		return usagef("--spec and --from-diff: give one")
	}
	if output == "" {
		return usagef("--output is required")
	}
	if metadata == "" {
		metadata = output + ".json"
	}
	mtime, err := mt.resolve(e)
	if err != nil {
		return err
	}
	c, err := comp.resolve(cmd, nil)
	if err != nil {
		return err
	}
	entries, err := layer.FromDiff(args[0], args[1], layer.FromDiffOptions{PreserveModTimes: f.preserveMtime, PreserveOwners: f.preserveOwners})
	if err != nil {
		return err
	}
	s, err := layer.NewSpec(entries, layer.SpecOptions{DefaultModTime: mtime})
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := layer.WriteFiles(cmd.Context(), s, layer.BuildOptions{Compression: c}, output, metadata)
	if err != nil {
		return err
	}
	cmd.Printf("%s %s diffID=%s size=%d entries=%d\n", output, m.Descriptor.Digest, m.DiffID, m.Descriptor.Size, len(entries))
	return nil
}
