package main

import (
	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

func init() { verbs = append(verbs, newOutputCommand) }

func newOutputCommand(e env) *cobra.Command {
	var (
		imageMeta, indexMeta, output, format, tag string
		layers, baseLayouts, stampFiles           []string
		quiet                                     bool
	)
	cmd := &cobra.Command{
		Use:   "output (--image IMAGE_META | --index INDEX_META) --layer META=BLOB... -o OUT",
		Short: "Write an image or index as a layout directory, OCI archive or Docker archive (one Bazel action)",
		Long: `Write an image (from its metadata) or an index as an OCI image layout
directory, an OCI archive or a Docker archive. Layer blobs come from
--layer METADATA=BLOB pairs (hard-linked, never read) and from base images
given with --base-layout (verified as they are linked or copied).
--stamp-file replaces {KEY} in --tag from Bazel workspace status files.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			quietly(cmd, quiet)
			if output == "" || (imageMeta == "") == (indexMeta == "") {
				return usagef("-o and exactly one of --image and --index are required")
			}
			if len(stampFiles) > 0 {
				st, err := readStampFiles(stampFiles)
				if err != nil {
					return err
				}
				tag = st.replace(tag)
			}
			out := build.Output{Format: layout.Format(format), Tag: tag}
			if imageMeta != "" {
				m, err := build.ReadImageMetadata(imageMeta)
				if err != nil {
					return err
				}
				img, err := m.Image()
				if err != nil {
					return err
				}
				out.Image = &img
			} else {
				m, err := build.ReadIndexMetadata(indexMeta)
				if err != nil {
					return err
				}
				out.Index = &m
			}
			var blobs build.Blobs
			for _, l := range layers {
				meta, blobPath, ok := cut(l, "=")
				if !ok {
					return usagef("--layer %q: want METADATA=BLOB", l)
				}
				m, err := layer.ReadMetadata(meta)
				if err != nil {
					return err
				}
				blobs.AddLayer(m.Descriptor, blobPath)
			}
			for _, b := range baseLayouts {
				src, err := layout.Open(cmd.Context(), b)
				if err != nil {
					return err
				}
				defer src.Close()
				blobs.Fetchers = append(blobs.Fetchers, src.Fetcher)
			}
			// Layers a shallow-pulled base left in its registry (registry.go).
			if f, err := shallowFetcher(e, baseLayouts...); err != nil {
				return err
			} else if f != nil {
				blobs.Fetchers = append(blobs.Fetchers, f)
			}
			if err := build.Write(cmd.Context(), output, out, blobs); err != nil {
				return err
			}
			printBuilt(cmd, output, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&imageMeta, "image", "", "image metadata file")
	f.StringVar(&indexMeta, "index", "", "index metadata file")
	f.StringArrayVar(&layers, "layer", nil, "METADATA=BLOB of a layer (repeatable)")
	f.StringArrayVar(&baseLayouts, "base-layout", nil, "base image layout/archive holding other blobs (repeatable)")
	f.StringVarP(&output, "output", "o", "", "where to write (required)")
	f.StringVar(&format, "format", "oci", "oci, oci-archive or docker-archive")
	f.StringVar(&tag, "tag", "", "REPOSITORY[:TAG] naming the output")
	f.StringArrayVar(&stampFiles, "stamp-file", nil, "workspace status file whose KEY VALUE lines replace {KEY} in --tag (repeatable)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
	return cmd
}
