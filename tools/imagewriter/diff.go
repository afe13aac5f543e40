package main

import (
	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/diff"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

func init() { verbs = append(verbs, newDiffCommand) }

func newDiffCommand(e env) *cobra.Command {
	var (
		jsonOut, noRecompress bool
		platform              string
	)
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Explain why two images differ, from the index down to tar header fields",
		Long: `Compare two images (each an OCI layout directory, OCI archive, Docker archive,
PATH:REF or registry reference) from the top of their Merkle trees down, and
report every cause of a difference once, where it is (docs/diff.md):

  index     platforms added or removed, the index's own fields
  manifest  media types, annotations, the config descriptor
  config    each differing field by JSON path: config.Env[2], created,
            history[3].created_by
  layers    layers aligned by diff_id: the same layers reordered; the same
            content compressed differently (each side's gzip header or zstd
            frame, and the imagewriter level that reproduces it); different
            content as tar entries added, removed and changed, with the header
            fields that differ (mode, uid, gid, uname, gname, mtime, size,
            type, linkname, xattrs and PAX records, content SHA-256, name)

Digests that change only because something below them changed are shown as
the walk, not as differences. Layers are streamed: memory grows with the
number of entries, never with their size.

Exit codes: 0 the images are identical (or, with --platform, that platform's
images are); 1 they differ (the report is printed); 2 usage errors and inputs
that could not be compared (missing or corrupt blobs, a layer that does not
match its diff_id).`,
		Example: `  imagewriter diff out/before out/after
  imagewriter diff --json --platform linux/arm64 old.tar registry.example.com/app:v2`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts diff.Options
			if platform != "" {
				p, err := image.ParsePlatform(platform)
				if err != nil {
					return usagef("--platform: %v", err)
				}
				opts.Platform = &p
			}
			if noRecompress {
				opts.RecompressLimit = -1
			}
			var sides [2]diff.Side
			for i, arg := range args {
				o, err := openImage(cmd.Context(), arg, e)
				if err != nil {
					return incomparableError{err}
				}
				defer o.Close()
				sides[i] = diff.Side{Name: arg, Fetcher: o, Root: o.Root}
			}
			r, err := diff.Explain(cmd.Context(), sides[0], sides[1], opts)
			if err != nil {
				return incomparableError{err}
			}
			if jsonOut {
				b, err := reproducible.MarshalIndent(r)
				if err != nil {
					return err
				}
				if _, err := cmd.OutOrStdout().Write(b); err != nil {
					return err
				}
			} else if err := diff.Render(cmd.OutOrStdout(), r); err != nil {
				return err
			}
			if len(r.Differences) > 0 {
				return negativeError{}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON (docs/diff.md describes its fields)")
	f.StringVar(&platform, "platform", "", "compare only this platform (os/arch[/variant]) of an index")
	f.BoolVar(&noRecompress, "no-recompress", false, "do not recompress layers to find which imagewriter level made them")
	return cmd
}
