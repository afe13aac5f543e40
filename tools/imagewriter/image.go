package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

func init() { verbs = append(verbs, newImageCommand, newIndexCommand) }

// imageRequestFile is the JSON request of `imagewriter image`: the
// non-layer parts of a build spec.
type imageRequestFile struct {
	Platform     string            `json:"platform"`
	Created      *string           `json:"created,omitempty"`
	Author       string            `json:"author,omitempty"`
	Config       build.ConfigSpec  `json:"config,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	BaseName     string            `json:"baseName,omitempty"`
	CreatedBy    []string          `json:"createdBy,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

func newImageCommand(e env) *cobra.Command {
	var (
		requestPath, output, baseImage, baseLayout, baseRef string
		layers                                              []string
		mt                                                  mtimeFlags
	)
	cmd := &cobra.Command{
		Use:   "image --request FILE --layer META... --output IMAGE_META",
		Short: "Compute an image's config and manifest from layer metadata (one Bazel action)",
		Long: `Compute an image's config and manifest from the metadata of its layers and an
optional base, and write the image metadata file: the manifest and config
bytes and the layer descriptors. No layer blob is read.

The request (JSON) holds platform, created, author, config (as in
docs/build-spec.md), annotations, baseName and createdBy (one history
created_by per layer).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if requestPath == "" || output == "" {
				return usagef("--request and --output are required")
			}
			if baseImage != "" && baseLayout != "" {
				return usagef("--base-image and --base-layout: give one")
			}
			t, err := mt.resolve(e)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(requestPath)
			if err != nil {
				return err
			}
			var rf imageRequestFile
			if err := strictJSON(requestPath, b, &rf); err != nil {
				return err
			}
			p, err := image.ParsePlatform(rf.Platform)
			if err != nil {
				return fmt.Errorf("%s: platform: %w", requestPath, err)
			}
			o, err := rf.Config.Overrides()
			if err != nil {
				return fmt.Errorf("%s: %w", requestPath, err)
			}
			req := build.ImageRequest{Platform: p, Author: rf.Author, Overrides: o, Annotations: rf.Annotations, ArtifactType: rf.ArtifactType}
			if !t.IsZero() {
				req.Created = &t
			}
			if rf.Created != nil {
				ct, err := reproducible.ParseTime(*rf.Created)
				if err != nil {
					return fmt.Errorf("%s: created: %w", requestPath, err)
				}
				req.Created = &ct
			}
			switch {
			case baseImage != "":
				m, err := build.ReadImageMetadata(baseImage)
				if err != nil {
					return fmt.Errorf("--base-image: %w", err)
				}
				bi, err := m.Image()
				if err != nil {
					return fmt.Errorf("--base-image %s: %w", baseImage, err)
				}
				req.Base = &build.Base{Image: bi, Name: rf.BaseName}
			case baseLayout != "":
				src, err := layout.Open(cmd.Context(), baseLayout)
				if err != nil {
					return fmt.Errorf("--base-layout: %w", err)
				}
				defer src.Close()
				root, err := src.FindRef(baseRef)
				if err != nil {
					return fmt.Errorf("--base-layout %s: %w", baseLayout, err)
				}
				bi, err := image.Resolve(cmd.Context(), src, root, &p)
				if err != nil {
					return fmt.Errorf("--base-layout %s: %w", baseLayout, err)
				}
				req.Base = &build.Base{Image: bi, Name: rf.BaseName}
			}
			if len(rf.CreatedBy) != 0 && len(rf.CreatedBy) != len(layers) {
				return fmt.Errorf("%s: createdBy: %d entries for %d layers", requestPath, len(rf.CreatedBy), len(layers))
			}
			for i, lp := range layers {
				m, err := layer.ReadMetadata(lp)
				if err != nil {
					return fmt.Errorf("--layer: %w", err)
				}
				l := build.Layer{Metadata: m}
				if len(rf.CreatedBy) > 0 {
					l.CreatedBy = rf.CreatedBy[i]
				}
				req.Layers = append(req.Layers, l)
			}
			img, err := build.Image(req)
			if err != nil {
				return err
			}
			if err := build.WriteJSON(output, build.NewImageMetadata(img)); err != nil {
				return err
			}
			cmd.Printf("%s %s\n", output, img.Manifest.Descriptor.Digest)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&requestPath, "request", "", "image request JSON (required)")
	f.StringArrayVar(&layers, "layer", nil, "layer metadata file, in layer order (repeatable)")
	f.StringVar(&baseImage, "base-image", "", "image metadata file of the base image")
	f.StringVar(&baseLayout, "base-layout", "", "base image as an OCI layout directory, OCI archive or Docker archive")
	f.StringVar(&baseRef, "base-ref", "", "ref.name of the base in --base-layout's index.json (default: its only image)")
	f.StringVarP(&output, "output", "o", "", "where to write the image metadata (required)")
	mt.register(cmd)
	return cmd
}

func newIndexCommand(e env) *cobra.Command {
	var (
		images, annotations []string
		output              string
	)
	cmd := &cobra.Command{
		Use:   "index --image IMAGE_META... --output INDEX_META",
		Short: "Compute a multi-platform index from image metadata files (one Bazel action)",
		Long: `Compute an image index over several images, one per platform, and write its
metadata file. Entries are sorted by platform (os, architecture, variant,
os.version, os.features), whatever the order of --image flags.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(images) == 0 || output == "" {
				return usagef("--image and --output are required")
			}
			ann := map[string]string{}
			for _, a := range annotations {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return usagef("--annotation %q: want KEY=VALUE", a)
				}
				ann[k] = v
			}
			var imgs []image.Image
			for _, p := range images {
				m, err := build.ReadImageMetadata(p)
				if err != nil {
					return err
				}
				img, err := m.Image()
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				imgs = append(imgs, img)
			}
			m, err := build.NewIndexMetadata(imgs, ann)
			if err != nil {
				return err
			}
			if err := build.WriteJSON(output, m); err != nil {
				return err
			}
			cmd.Printf("%s %s\n", output, m.Index.Descriptor.Digest)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&images, "image", nil, "image metadata file (repeatable)")
	f.StringArrayVar(&annotations, "annotation", nil, "index annotation KEY=VALUE (repeatable)")
	f.StringVarP(&output, "output", "o", "", "where to write the index metadata (required)")
	return cmd
}

func strictJSON(name string, b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}
