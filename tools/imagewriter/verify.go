package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/verify"
)

func init() { verbs = append(verbs, newVerifyCommand) }

func newVerifyCommand(e env) *cobra.Command {
	var (
		fast, asJSON bool
		platform     string
	)
	cmd := &cobra.Command{
		Use:   "verify IMAGE...",
		Short: "Check images against the OCI image-spec and imagewriter's rules, reporting every problem",
		Long: `Check each IMAGE and report every problem found, never only the first:
descriptors (digest grammar, size, digest), media types against content (a
+zstd layer must be zstd), each layer's diff_id against its decompressed tar,
duplicate and malformed entries in layers, configs (os and architecture set
and strings, diff_ids one per layer, history pairing with diff_ids), indexes
(manifests not null, a platform on each image entry), no Docker and OCI media
types mixed, and the container: oci-layout, index.json and its ref.name
annotations, a Docker archive's manifest.json. docs/verify.md lists it all.

IMAGE is an OCI layout directory, an OCI archive or a Docker archive, as PATH,
PATH:REF (only the images named REF), oci:PATH, oci-archive:PATH or
docker-archive:PATH.

Each problem is printed on stdout as "IMAGE: WHERE: WHAT", where WHERE is a
blob (a digest, or index.json, oci-layout, manifest.json, archive) and the
place in it (a JSON path such as layers[1].size, or a path in a layer); then
"IMAGE: N problems". A clean image prints "IMAGE: ok: DIGEST (N manifests,
M layers, X bytes checked)".

Exit codes: 0 when every image holds; 1 when a problem was found (or an image
could not be read); 2 on usage errors.`,
		Example: `  imagewriter verify out/layout
  imagewriter verify --fast out/image.tar oci:out/layout:v1
  imagewriter verify --json docker-archive:out/image.docker.tar`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := verify.Options{Fast: fast}
			if platform != "" {
				p, err := image.ParsePlatform(platform)
				if err != nil {
					return usagef("--platform: %v", err)
				}
				opts.Platform = &p
			}
			return runVerify(cmd.Context(), args, opts, asJSON, e)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&fast, "fast", false, "do not read layers past their first bytes: skip their size, digest, diff_id and entries")
	fl.BoolVar(&asJSON, "json", false, "print one JSON report on stdout instead of lines")
	fl.StringVar(&platform, "platform", "", "check only the index entries for this platform (os/arch[/variant])")
	return cmd
}

// verifyResult is one image's entry in the --json report.
type verifyResult struct {
	Image string `json:"image"`
	OK    bool   `json:"ok"`
	// Error is set when the image could not be checked at all.
	Error string `json:"error,omitempty"`
	*verify.Report
}

func runVerify(ctx context.Context, args []string, opts verify.Options, asJSON bool, e env) error {
	var (
		results  []verifyResult
		failures []error
		found    int
	)
	for _, arg := range args {
		rep, err := verifyImage(ctx, arg, opts, e)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r := verifyResult{Image: arg, Report: rep}
		if err != nil {
			r.Error = err.Error()
			failures = append(failures, err)
		} else {
			r.OK = rep.OK()
			found += len(rep.Problems)
		}
		results = append(results, r)
		if !asJSON {
			printVerify(e.stdout, r)
		}
	}
	if asJSON {
		b, err := reproducible.MarshalIndent(struct {
			OK     bool           `json:"ok"`
			Images []verifyResult `json:"images"`
		}{found == 0 && len(failures) == 0, results})
		if err != nil {
			return err
		}
		e.stdout.Write(b)
	}
	if len(failures) > 0 {
		return errors.Join(failures...)
	}
	if found > 0 {
		return negativeError{}
	}
	return nil
}

// verifyImage checks one argument: a local layout or archive with its
// container, else (a registry reference, later) the graph openImage finds.
func verifyImage(ctx context.Context, arg string, opts verify.Options, e env) (*verify.Report, error) {
	if p, ref, ok := localImagePath(arg); ok {
		// A shallow-pulled layout holds no layers: check the graph with
		// its layers fetched from where they live, not the container.
		if sf, err := shallowFetcher(e, p); err != nil {
			return nil, err
		} else if sf == nil {
			opts.Ref = ref
			return verify.CheckPath(ctx, p, opts)
		}
	}
	o, err := openImage(ctx, arg, e)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return verify.Check(ctx, o, o.Root, opts)
}

func printVerify(w io.Writer, r verifyResult) {
	if r.Report == nil {
		return // the error is printed once, by main
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "%s: %s\n", r.Image, p.Error())
	}
	if n := len(r.Problems); n > 0 {
		fmt.Fprintf(w, "%s: %d %s\n", r.Image, n, plural(n, "problem", "problems"))
		return
	}
	var roots []string
	for _, d := range r.Roots {
		roots = append(roots, d.Digest.String())
	}
	if len(roots) == 0 {
		roots = []string{"no images"}
	}
	what := "bytes checked"
	if r.Fast {
		what = "bytes checked, layers only opened (--fast)"
	}
	fmt.Fprintf(w, "%s: ok: %s (%d %s, %d %s, %d %s)\n", r.Image, strings.Join(roots, ", "),
		r.Manifests, plural(r.Manifests, "manifest", "manifests"), r.Layers, plural(r.Layers, "layer", "layers"), r.Bytes, what)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
