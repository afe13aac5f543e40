package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

func init() { verbs = append(verbs, newBuildCommand) }

func newBuildCommand(e env) *cobra.Command {
	var (
		specPath, output, format, tag string
		platforms                     []string
		comp                          compressionFlags
		mt                            mtimeFlags
	)
	cmd := &cobra.Command{
		Use:   "build -f SPEC -o OUT",
		Short: "Build a whole image (or a multi-platform index) from a declarative spec",
		Long: `Build an image from a declarative spec (JSON, or YAML for .yaml/.yml files;
docs/build-spec.md): an optional base image, one or more platforms, the layers
(the same entries as 'imagewriter layer', with per-platform sources), config,
annotations and compression. One platform gives an image; several give an
index whose entries are sorted by platform.

Output forms (--format): oci (an OCI image layout directory, the default),
oci-archive (a tar of that directory) and docker-archive (loadable by docker
load and podman load; one platform only). Layer blobs are hard-linked into the
output, never copied when a link is possible. The output appears atomically.`,
		Example: `  imagewriter build -f image.json -o out/layout --tag example.com/hello:v1
  imagewriter build -f image.json -o hello.tar --format docker-archive --platform linux/amd64`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if specPath == "" || output == "" {
				return usagef("-f/--file and -o/--output are required")
			}
			f := layout.Format(format)
			if f != layout.FormatDir && f != layout.FormatArchive && f != layout.FormatDockerArchive {
				return usagef("--format %q: want oci, oci-archive or docker-archive", format)
			}
			for _, p := range platforms {
				if _, err := image.ParsePlatform(p); err != nil {
					return usagef("--platform: %v", err)
				}
			}
			if tag != "" {
				if _, err := build.ParseTag(tag); err != nil {
					return usagef("--tag: %v", err)
				}
			}
			t, err := mt.resolve(e)
			if err != nil {
				return err
			}
			var cp *reproducible.Compression
			if cmd.Flags().Changed("compression") || cmd.Flags().Changed("level") {
				c, err := comp.resolve(cmd, nil)
				if err != nil {
					return err
				}
				cp = &c
			}
			b, err := os.ReadFile(specPath)
			if err != nil {
				return err
			}
			sf, err := build.ParseSpecFile(specPath, b)
			if err != nil {
				return err
			}
			if tag != "" {
				sf.Tag = tag
			}
			if want := platforms; f == layout.FormatDockerArchive {
				if len(want) == 0 {
					want = sf.Platforms
				}
				if len(want) > 1 {
					return usagef("--format docker-archive holds one platform's image, not %d (%s): choose one with --platform", len(want), strings.Join(want, ", "))
				}
			}
			if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
				return err
			}
			work, err := os.MkdirTemp(filepath.Dir(output), ".imagewriter-build-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			built, err := build.Build(cmd.Context(), sf, build.Options{
				BaseDir: filepath.Dir(specPath), Platforms: platforms, Compression: cp, Time: t, WorkDir: work,
			})
			if err != nil {
				return err
			}
			defer built.Close()
			if sf.Base != nil && sf.Base.Path != "" {
				// Layers a shallow-pulled base left in its registry (registry.go).
				p := sf.Base.Path
				if !filepath.IsAbs(p) {
					p = filepath.Join(filepath.Dir(specPath), p)
				}
				f, err := shallowFetcher(e, p)
				if err != nil {
					return err
				}
				if f != nil {
					built.Blobs.Fetchers = append(built.Blobs.Fetchers, f)
				}
			}
			built.Output.Format = f
			if err := build.Write(cmd.Context(), output, built.Output, built.Blobs); err != nil {
				return err
			}
			printBuilt(cmd, output, built.Output)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&specPath, "file", "f", "", "image spec (JSON or YAML) (required)")
	fl.StringVarP(&output, "output", "o", "", "where to write the image (required)")
	fl.StringVar(&format, "format", "oci", "output form: oci, oci-archive or docker-archive")
	fl.StringVar(&tag, "tag", "", "name the image REPOSITORY[:TAG] (the layout's ref.name is the tag); overrides the spec's")
	fl.StringSliceVar(&platforms, "platform", nil, "build only these platforms (os/arch[/variant]; repeatable), instead of the spec's")
	comp.register(cmd)
	mt.register(cmd)
	return cmd
}

// printBuilt prints what was written: the top digest, then per platform.
func printBuilt(cmd *cobra.Command, output string, out build.Output) {
	if out.Image != nil {
		cmd.Printf("%s %s %s\n", output, out.Image.Manifest.Descriptor.Digest, platformOf(out.Image.Platform.OS, out.Image.Platform.Architecture, out.Image.Platform.Variant))
		return
	}
	cmd.Printf("%s %s index\n", output, out.Index.Index.Descriptor.Digest)
	for _, m := range out.Index.Images {
		cmd.Printf("  %s %s\n", m.Manifest.Descriptor.Digest, platformOf(m.Platform.OS, m.Platform.Architecture, m.Platform.Variant))
	}
}

func platformOf(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, "/")
}
