package main

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
)

func init() { verbs = append(verbs, newPullCommand) }

func newPullCommand(e env) *cobra.Command {
	var (
		output, platform string
		shallow          bool
		rf               registryFlags
	)
	cmd := &cobra.Command{
		Use:   "pull REF -o DIR",
		Short: "Pull an image or index from a registry into an OCI layout directory",
		Long: `Pull an image or a multi-platform index from an OCI registry and write it as
an OCI image layout directory.

REF is HOST/REPOSITORY[:TAG] or HOST/REPOSITORY@sha256:... (docker:// may
prefix it; without either, the tag is "latest"). A tag is resolved to a
digest first, and stderr says which. Every blob is verified against its
digest and size while it streams; the layout is assembled beside DIR and
renamed into place, so a failure writes nothing. index.json names the image
by its tag (ref.name), as skopeo and umoci address it.

--platform OS/ARCH[/VARIANT] takes one platform's manifest out of an index:
the layout then holds that manifest, not the index.

--shallow fetches only the index, manifests and configs, and records in
DIR/imagewriter-sources.json where the layers live. Such a layout serves as a
base ('imagewriter image --base-layout', 'build', 'output'): a push of an
image built on it mounts the base layers from their repository when it is in
the same registry, and a layer is downloaded only when an output must hold it.

Stdout gets REGISTRY/REPOSITORY@sha256:... of what was written; progress
goes to stderr.`,
		Example: `  imagewriter pull registry.example.com/base:1.0 -o base --shallow
  imagewriter pull 127.0.0.1:5000/app@sha256:... -o app --platform linux/arm64`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if output == "" {
				return usagef("-o/--output is required")
			}
			ref, err := parseRegistryRef(args[0], true)
			if err != nil {
				return usageError{err}
			}
			var plat *ocispec.Platform
			if platform != "" {
				p, err := image.ParsePlatform(platform)
				if err != nil {
					return usagef("--platform: %v", err)
				}
				plat = &p
			}
			client, err := newRegistryClient(e, &rf)
			if err != nil {
				return err
			}
			pr, err := newProgress(ctx, e.stderr, rf.progress, "pulled")
			if err != nil {
				return err
			}
			defer pr.close()
			repo, root, err := resolveRef(ctx, client, ref)
			if err != nil {
				return err
			}
			if ref.Digest == "" {
				tag := ref.Tag
				if tag == "" {
					tag = "latest"
				}
				pr.printf("resolved %s to %s (%s)", ref.WithTag(tag), root.Digest, kindOf(root.MediaType))
			}
			refName := ref.Tag
			if refName == "" && ref.Digest == "" {
				refName = "latest"
			}
			got, err := registry.Pull(ctx, repo, root, output, registry.PullOptions{
				Platform:     plat,
				Shallow:      shallow,
				RefName:      refName,
				Concurrency:  rf.concurrency,
				OnEvent:      pr.event,
				ByteProgress: pr.mode == progressBars,
			})
			if err != nil {
				return err
			}
			if got.Digest != root.Digest {
				pr.printf("took %s %s for %s out of the index", kindOf(got.MediaType), got.Digest, platform)
			}
			pr.printf("wrote %s", output)
			pr.close()
			fmt.Fprintln(e.stdout, ref.WithDigest(got.Digest))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "", "layout directory to write (required; an existing layout is replaced)")
	f.StringVar(&platform, "platform", "", "pull only this platform's manifest of an index (os/arch[/variant])")
	f.BoolVar(&shallow, "shallow", false, "fetch manifests and configs only; record where the layers live")
	rf.register(cmd)
	return cmd
}
