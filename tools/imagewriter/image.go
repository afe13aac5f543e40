package main

import (
	"encoding/json"
	"fmt"
	"io"
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
		manifestOut, configOut                              string
		layers, stampFiles                                  []string
		mt                                                  mtimeFlags
		quiet                                               bool
	)
	cmd := &cobra.Command{
		Use:   "image --request FILE --layer META... --output IMAGE_META",
		Short: "Compute an image's config and manifest from layer metadata (one Bazel action)",
		Long: `Compute an image's config and manifest from the metadata of its layers and an
optional base, and write the image metadata file: the manifest and config
bytes and the layer descriptors. No layer blob is read.

The request (JSON) holds platform, created, author, config (as in
docs/build-spec.md), annotations, baseName and createdBy (one history
created_by per layer).

--manifest-out and --config-out also write the manifest and config blobs, the
exact bytes their digests name. --stamp-file reads Bazel workspace status
files ("KEY VALUE" lines) and replaces each {KEY} of a key they define in
created, author, config labels and annotations; other text is left as it is.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			quietly(cmd, quiet)
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
			if len(stampFiles) > 0 {
				st, err := readStampFiles(stampFiles)
				if err != nil {
					return err
				}
				rf.stamp(st)
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
			for _, w := range []struct {
				path string
				data []byte
			}{{manifestOut, img.Manifest.Data}, {configOut, img.Config.Data}} {
				if w.path != "" {
					if err := reproducible.WriteFileAtomic(w.path, w.data); err != nil {
						return err
					}
				}
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
	f.StringVar(&manifestOut, "manifest-out", "", "also write the manifest blob here")
	f.StringVar(&configOut, "config-out", "", "also write the config blob here")
	f.StringArrayVar(&stampFiles, "stamp-file", nil, "workspace status file whose KEY VALUE lines replace {KEY} (repeatable)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
	mt.register(cmd)
	return cmd
}

// quietly silences a verb's success output (--quiet, which Bazel actions
// pass: a line per action would fill the build log); errors still go to
// stderr through main.
func quietly(cmd *cobra.Command, quiet bool) {
	if quiet {
		cmd.SetOut(io.Discard)
	}
}

// stamp replaces {KEY} placeholders in the fields a build may stamp.
func (rf *imageRequestFile) stamp(st stampValues) {
	if rf.Created != nil {
		c := st.replace(*rf.Created)
		rf.Created = &c
	}
	rf.Author = st.replace(rf.Author)
	for k, v := range rf.Config.Labels {
		rf.Config.Labels[k] = st.replace(v)
	}
	for k, v := range rf.Annotations {
		rf.Annotations[k] = st.replace(v)
	}
}

// stampValues are the keys of Bazel workspace status files
// (stable-status.txt, volatile-status.txt) and their values.
type stampValues map[string]string

// readStampFiles reads status files: one "KEY VALUE" per line; a later file
// wins over an earlier one for the same key.
func readStampFiles(paths []string) (stampValues, error) {
	st := stampValues{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--stamp-file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(strings.TrimSuffix(line, "\r"), " ")
			if k != "" {
				st[k] = v
			}
		}
	}
	return st, nil
}

// replace substitutes {KEY} for every KEY the status files define.
func (st stampValues) replace(s string) string {
	if len(st) == 0 || !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		if v, ok := st[s[i+1:i+j]]; ok {
			b.WriteString(s[:i])
			b.WriteString(v)
		} else {
			b.WriteString(s[:i+j+1])
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

func newIndexCommand(e env) *cobra.Command {
	var (
		images, annotations, stampFiles []string
		output, indexOut                string
		quiet                           bool
	)
	cmd := &cobra.Command{
		Use:   "index --image IMAGE_META... --output INDEX_META",
		Short: "Compute a multi-platform index from image metadata files (one Bazel action)",
		Long: `Compute an image index over several images, one per platform, and write its
metadata file. Entries are sorted by platform (os, architecture, variant,
os.version, os.features), whatever the order of --image flags.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			quietly(cmd, quiet)
			if len(images) == 0 || output == "" {
				return usagef("--image and --output are required")
			}
			var st stampValues
			if len(stampFiles) > 0 {
				var err error
				if st, err = readStampFiles(stampFiles); err != nil {
					return err
				}
			}
			ann := map[string]string{}
			for _, a := range annotations {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return usagef("--annotation %q: want KEY=VALUE", a)
				}
				ann[k] = st.replace(v)
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
			if indexOut != "" {
				if err := reproducible.WriteFileAtomic(indexOut, []byte(m.Index.Data)); err != nil {
					return err
				}
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
	f.StringVar(&indexOut, "index-out", "", "also write the index blob here")
	f.StringArrayVar(&stampFiles, "stamp-file", nil, "workspace status file whose KEY VALUE lines replace {KEY} in annotations (repeatable)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
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
