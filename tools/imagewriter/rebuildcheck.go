package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/diff"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

func init() { verbs = append(verbs, newRebuildCheckCommand) }

// round is one of the two builds and the conditions it runs under.
type round struct {
	n          int
	src, out   string // the copy of the root, and where outputs go
	umask      int
	tz         string
	gomaxprocs string
	lang       string
	mtime      time.Time // given to every copied file and directory
	mtimeName  string
	reverse    bool // copy names in reverse order
}

func (r round) String() string {
	order := "path order"
	if r.reverse {
		order = "reverse path order"
	}
	return fmt.Sprintf("round %d: in %s, umask %03o, TZ=%s, GOMAXPROCS=%s, LANG=%s, source mtimes %s, copied in %s",
		r.n, r.src, r.umask, r.tz, r.gomaxprocs, r.lang, r.mtimeName, order)
}

// rebuildCheck is the state of one `imagewriter rebuild-check`.
type rebuildCheck struct {
	spec       string
	layerSpecs []string
	root       string
	platforms  []string
	prepare    string
	keep       bool
	deref      bool
	exactModes bool
	expect     []string // META[=BLOB] per layer spec: what the real build made
	extra      []string
}

// layerName is the output name of the i-th layer spec.
func layerName(i int, rel string) string {
	return fmt.Sprintf("layer-%d-%s", i, strings.TrimSuffix(filepath.Base(rel), filepath.Ext(rel)))
}

func newRebuildCheckCommand(e env) *cobra.Command {
	var rc rebuildCheck
	cmd := &cobra.Command{
		Use:   "rebuild-check (-f SPEC | --layer-spec LAYER_SPEC... | -- COMMAND...) [-- FLAGS...]",
		Short: "Build twice under changed conditions and explain any difference",
		Long: `Prove that a build is reproducible: build it twice, each time in a fresh copy of
its sources under different conditions, and compare every output byte for byte.
When they differ, print the 'imagewriter diff' report of the outputs and exit 1.

The two rounds differ in everything that must not matter (docs/diff.md):

  round 1: umask 022, TZ=UTC, GOMAXPROCS=1, LANG=C, source mtimes now,
           sources copied to TMP/r1/src in path order
  round 2: umask 077, TZ=Pacific/Kiritimati, GOMAXPROCS=8, LANG=C.UTF-8,
           source mtimes 1970-01-01, sources copied to a longer path
           TMP/r2/elsewhere/checkout/src in reverse path order

The copy is ROOT (--root; default the directory of the first spec): every
source a spec names must be under it. Copied files get the round's umask, as a
fresh checkout would (--exact-modes keeps the original modes). Symlinks are
copied as symlinks; --dereference copies what they point to instead (Bazel
runfiles and sandboxes, whose inputs are symlinks). Each round's imagewriter
runs in its copy of ROOT, re-executing this binary through /bin/sh to set the
umask.

What is built:

  -f SPEC              the image spec, as 'imagewriter build -f SPEC'
  --layer-spec SPEC    each layer spec, as 'imagewriter layer --spec SPEC'
                       (repeatable; a Bazel test re-runs an image's layer
                       requests this way)
  -- COMMAND...        with neither, the arguments after -- are an imagewriter
                       command line run as is in each round, with "{out}"
                       replaced by the round's output directory, e.g.
                       -- layer --spec l.json -o {out}/l.tgz

With -f or --layer-spec, arguments after -- are extra flags for every build
(e.g. -- --compression zstd). Paths in them relative to ROOT resolve in the
copy.

--expect METADATA[=BLOB], once per --layer-spec and in the same order, names
what the real build made for that spec (its layer metadata file, and blob to
explain a difference): round 1 must also match it. The rounds can agree with
each other and still differ from the build when the build's environment (its
sandbox, paths, tools) leaked into the layer.

--prepare CMD runs "/bin/sh -c CMD" in each copy before building, with the
round's umask, TZ and IMAGEWRITER_REBUILD_ROUND=1 or 2: to generate inputs,
and to test that generated inputs are deterministic.

Exit codes: 0 both rounds gave the same bytes; 1 they differ (the report is
printed) or a round failed; 2 usage errors.`,
		Example: `  imagewriter rebuild-check -f image.json
  imagewriter rebuild-check --layer-spec app/layer.json --layer-spec base/layer.json --root . -- --compression gzip
  imagewriter rebuild-check --prepare 'make gen' -f image.yaml
  imagewriter rebuild-check --root . -- image --request req.json --layer l.json --output {out}/image.json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); dash != 0 && len(args) > 0 {
				return usagef("unexpected argument %q: put build flags or a command after --", args[0])
			}
			rc.extra = args
			return rc.run(cmd, e)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&rc.spec, "file", "f", "", "image spec to build, as 'imagewriter build -f'")
	f.StringArrayVar(&rc.layerSpecs, "layer-spec", nil, "layer spec to build, as 'imagewriter layer --spec' (repeatable)")
	f.StringVar(&rc.root, "root", "", "the directory copied for each round (default: the first spec's directory)")
	f.StringArrayVar(&rc.platforms, "platform", nil, "platform to build (os/arch[/variant]; repeatable with -f, once with --layer-spec)")
	f.StringVar(&rc.prepare, "prepare", "", "shell command run in each copy before building (to generate inputs)")
	f.BoolVar(&rc.keep, "keep", false, "keep both rounds' directories and print where they are")
	f.BoolVar(&rc.deref, "dereference", false, "copy what symlinks point to instead of the symlinks")
	f.BoolVar(&rc.exactModes, "exact-modes", false, "copy file modes exactly instead of applying each round's umask")
	f.StringArrayVar(&rc.expect, "expect", nil, "with --layer-spec: METADATA[=BLOB] the build made for the spec in the same position; round 1 must match it")
	return cmd
}

func (rc *rebuildCheck) run(cmd *cobra.Command, e env) error {
	ctx := cmd.Context()
	modes := 0
	for _, set := range []bool{rc.spec != "", len(rc.layerSpecs) > 0} {
		if set {
			modes++
		}
	}
	switch {
	case modes > 1:
		return usagef("-f and --layer-spec: give one")
	case modes == 0 && len(rc.extra) == 0:
		return usagef("give -f SPEC, --layer-spec SPEC or a command after --")
	case modes == 0 && rc.root == "":
		return usagef("--root is required with a command after --")
	case len(rc.layerSpecs) > 0 && len(rc.platforms) > 1:
		return usagef("--platform: 'imagewriter layer' takes one platform")
	case modes == 0 && len(rc.platforms) > 0:
		return usagef("--platform goes with -f or --layer-spec; put it in the command")
	case len(rc.expect) > 0 && len(rc.expect) != len(rc.layerSpecs):
		return usagef("--expect: give one per --layer-spec, in the same order (%d for %d)", len(rc.expect), len(rc.layerSpecs))
	}
	specs := rc.layerSpecs
	if rc.spec != "" {
		specs = []string{rc.spec}
	}
	if rc.root == "" {
		rc.root = filepath.Dir(specs[0])
	}
	root, err := filepath.Abs(rc.root)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return usagef("--root %s: not a directory", rc.root)
	}
	var rels []string
	for _, s := range specs {
		abs, err := filepath.Abs(s)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return usagef("%s is not under the root %s (--root)", s, root)
		}
		if _, err := os.Stat(abs); err != nil {
			return err
		}
		rels = append(rels, rel)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary to re-run it: %w", err)
	}
	tmp, err := os.MkdirTemp("", "imagewriter-rebuild-check-")
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(root, tmp); err == nil && !strings.HasPrefix(rel, "..") {
		os.RemoveAll(tmp)
		return fmt.Errorf("the temporary directory %s is inside the root %s: set TMPDIR elsewhere", tmp, root)
	}
	if rc.keep {
		fmt.Fprintf(cmd.ErrOrStderr(), "imagewriter rebuild-check: keeping %s\n", tmp)
	} else {
		defer removeAll(tmp)
	}
	rounds := []round{
		{n: 1, src: filepath.Join(tmp, "r1", "src"), out: filepath.Join(tmp, "r1", "out"),
			umask: 0o022, tz: "UTC", gomaxprocs: "1", lang: "C", mtime: time.Now(), mtimeName: "now"},
		{n: 2, src: filepath.Join(tmp, "r2", "elsewhere", "checkout", "src"), out: filepath.Join(tmp, "r2", "out"),
			umask: 0o077, tz: "Pacific/Kiritimati", gomaxprocs: "8", lang: "C.UTF-8", mtime: reproducible.Epoch, mtimeName: "1970-01-01", reverse: true},
	}
	for _, r := range rounds {
		fmt.Fprintln(cmd.OutOrStdout(), r)
		if err := rc.build(ctx, exe, root, rels, r); err != nil {
			return fmt.Errorf("round %d: %w", r.n, err)
		}
	}
	err = rc.compare(cmd, rounds[0], rounds[1])
	if eerr := rc.compareExpected(cmd, rels, rounds[0]); err == nil {
		err = eerr
	}
	return err
}

// compareExpected checks round 1's layers against what the real build
// made (--expect): a layer that the rounds agree on can still differ from
// the build's, when the build's environment leaked into it.
func (rc *rebuildCheck) compareExpected(cmd *cobra.Command, rels []string, r round) error {
	var differ []string
	for i, ex := range rc.expect {
		metaPath, blobPath, _ := strings.Cut(ex, "=")
		want, err := layer.ReadMetadata(metaPath)
		if err != nil {
			return fmt.Errorf("--expect: %w", err)
		}
		name := layerName(i, rels[i])
		got, err := layer.ReadMetadata(filepath.Join(r.out, name+".json"))
		if err != nil {
			return err
		}
		if got.Descriptor.Digest == want.Descriptor.Digest && got.DiffID == want.DiffID {
			fmt.Fprintf(cmd.OutOrStdout(), "matches the build: %s %s\n", name, want.Descriptor.Digest)
			continue
		}
		differ = append(differ, name)
		fmt.Fprintf(cmd.OutOrStdout(), "NOT what the build made: %s: the build %s (diffID %s), rebuilt %s (diffID %s)\n",
			name, want.Descriptor.Digest, want.DiffID, got.Descriptor.Digest, got.DiffID)
		if blobPath != "" {
			if err := explainOutput(cmd, blobPath, filepath.Join(r.out, name+".blob"), "the build", "round 1"); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "  (cannot explain: %v)\n", err)
			}
		}
	}
	if len(differ) > 0 {
		return negativeError{fmt.Sprintf("%d layers differ from what the build made: %s", len(differ), strings.Join(differ, ", "))}
	}
	return nil
}

// build copies the root and runs the round's build.
func (rc *rebuildCheck) build(ctx context.Context, exe, root string, rels []string, r round) error {
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.src), 0o755); err != nil {
		return err
	}
	if err := copyTree(root, r.src, r, rc.deref, rc.exactModes); err != nil {
		return fmt.Errorf("copying %s: %w", root, err)
	}
	environ := roundEnv(r)
	if rc.prepare != "" {
		c := umaskCommand(ctx, r.umask, "/bin/sh", "-c", rc.prepare)
		c.Dir, c.Env = r.src, append(environ, fmt.Sprintf("IMAGEWRITER_REBUILD_ROUND=%d", r.n))
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("--prepare %q: %v\n%s", rc.prepare, err, out)
		}
	}
	var commands [][]string
	switch {
	case rc.spec != "":
		args := []string{"build", "-f", rels[0], "-o", filepath.Join(r.out, "image"), "--format", "oci"}
		for _, p := range rc.platforms {
			args = append(args, "--platform", p)
		}
		commands = append(commands, append(args, rc.extra...))
	case len(rc.layerSpecs) > 0:
		for i, rel := range rels {
			name := layerName(i, rel)
			args := []string{"layer", "--spec", rel, "--output", filepath.Join(r.out, name+".blob"), "--metadata", filepath.Join(r.out, name+".json")}
			for _, p := range rc.platforms {
				args = append(args, "--platform", p)
			}
			commands = append(commands, append(args, rc.extra...))
		}
	default:
		var args []string
		for _, a := range rc.extra {
			args = append(args, strings.ReplaceAll(a, "{out}", r.out))
		}
		commands = append(commands, args)
	}
	for _, args := range commands {
		c := umaskCommand(ctx, r.umask, exe, args...)
		c.Dir, c.Env = r.src, environ
		var stderr bytes.Buffer
		c.Stderr = &stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("imagewriter %s: %v\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
	}
	return nil
}

// umaskCommand runs name with args under umask, through /bin/sh: Go
// cannot set a child's umask itself.
func umaskCommand(ctx context.Context, umask int, name string, args ...string) *exec.Cmd {
	sh := fmt.Sprintf(`umask %03o && exec "$0" "$@"`, umask)
	return exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", sh, name}, args...)...)
}

// roundEnv is this process's environment with the round's TZ, GOMAXPROCS,
// LANG and PWD.
func roundEnv(r round) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TZ", "GOMAXPROCS", "LANG", "LC_ALL", "PWD", "IMAGEWRITER_REBUILD_ROUND":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "TZ="+r.tz, "GOMAXPROCS="+r.gomaxprocs, "LANG="+r.lang, "LC_ALL="+r.lang, "PWD="+r.src)
}

// copyTree copies src to dst for round r: names in the round's order,
// modes with its umask applied (unless exact), every mtime set to its.
func copyTree(src, dst string, r round, deref, exact bool) error {
	mode := func(m fs.FileMode) fs.FileMode {
		m &= fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
		if !exact {
			m &^= fs.FileMode(r.umask)
		}
		return m
	}
	var walk func(s, d string, depth int) error
	walk = func(s, d string, depth int) error {
		if depth > 255 {
			return fmt.Errorf("%s: directories nested too deep (a symlink loop?)", s)
		}
		fi, err := os.Stat(s)
		if err != nil {
			return err
		}
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		names, err := readNames(s)
		if err != nil {
			return err
		}
		if r.reverse {
			slices.Reverse(names)
		}
		for _, name := range names {
			sp, dp := filepath.Join(s, name), filepath.Join(d, name)
			ci, err := os.Lstat(sp)
			if err != nil {
				return err
			}
			if ci.Mode()&fs.ModeSymlink != 0 {
				if !deref {
					t, err := os.Readlink(sp)
					if err != nil {
						return err
					}
					if err := os.Symlink(t, dp); err != nil {
						return err
					}
					continue
				}
				if ci, err = os.Stat(sp); err != nil {
					return fmt.Errorf("%s: %w", sp, err)
				}
			}
			switch {
			case ci.IsDir():
				if err := walk(sp, dp, depth+1); err != nil {
					return err
				}
			case ci.Mode().IsRegular():
				if err := copyFile(sp, dp); err != nil {
					return err
				}
				if err := os.Chmod(dp, mode(ci.Mode())); err != nil {
					return err
				}
				if err := os.Chtimes(dp, r.mtime, r.mtime); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%s: a %v cannot be copied", sp, ci.Mode().Type())
			}
		}
		// Owner rwx stays, so that the copy can be removed.
		if err := os.Chmod(d, mode(fi.Mode())|0o700); err != nil {
			return err
		}
		return os.Chtimes(d, r.mtime, r.mtime)
	}
	return walk(src, dst, 0)
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// removeAll removes a tree even where a build left directories without
// owner write permission.
func removeAll(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}

// outputs describes every path under dir: "sha256:…" for files, "dir",
// or "-> target" for symlinks.
func outputs(dir string) (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			m[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m[rel] = "-> " + t
		default:
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
			m[rel] = "sha256:" + hex.EncodeToString(h.Sum(nil))
		}
		return nil
	})
	return m, err
}

// compare checks the two rounds' outputs and explains what differs.
func (rc *rebuildCheck) compare(cmd *cobra.Command, a, b round) error {
	w := cmd.OutOrStdout()
	oa, err := outputs(a.out)
	if err != nil {
		return err
	}
	ob, err := outputs(b.out)
	if err != nil {
		return err
	}
	if len(oa) == 0 {
		return fmt.Errorf("round 1 wrote nothing to its output directory (did the command use {out}?)")
	}
	// The top-level outputs: what was asked for, each explained as a
	// whole (an image layout, a layer blob, a file).
	tops := map[string]bool{}
	for p := range oa {
		tops[strings.SplitN(p, "/", 2)[0]] = true
	}
	for p := range ob {
		tops[strings.SplitN(p, "/", 2)[0]] = true
	}
	var differ []string
	for _, t := range slices.Sorted(maps.Keys(tops)) {
		if !sameUnder(oa, ob, t) {
			differ = append(differ, t)
		}
	}
	if len(differ) == 0 {
		for _, t := range slices.Sorted(maps.Keys(tops)) {
			fmt.Fprintf(w, "reproducible: %s %s\n", t, summarize(a.out, t, oa[t]))
		}
		return nil
	}
	for _, t := range differ {
		fmt.Fprintf(w, "NOT reproducible: %s: round 1 %s, round 2 %s\n", t, summarize(a.out, t, oa[t]), summarize(b.out, t, ob[t]))
		if err := explainOutput(cmd, filepath.Join(a.out, t), filepath.Join(b.out, t), "round 1", "round 2"); err != nil {
			fmt.Fprintf(w, "  (cannot explain: %v)\n", err)
		}
	}
	return negativeError{fmt.Sprintf("%d of %d outputs differ between the rounds: %s", len(differ), len(tops), strings.Join(differ, ", "))}
}

func sameUnder(a, b map[string]string, top string) bool {
	pick := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			if k == top || strings.HasPrefix(k, top+"/") {
				out[k] = v
			}
		}
		return out
	}
	return maps.Equal(pick(a), pick(b))
}

// summarize names an output by what identifies it: an image layout's top
// digest, else the file's digest.
func summarize(out, top, desc string) string {
	switch desc {
	case "":
		return "(missing)"
	case "dir":
		if src, err := layout.Open(context.Background(), filepath.Join(out, top)); err == nil {
			defer src.Close()
			if d, err := src.FindRef(""); err == nil {
				return string(d.Digest)
			}
		}
	}
	return desc
}

// explainOutput prints the diff report of two outputs: images through
// diff.Explain, layer blobs wrapped as one-layer images.
func explainOutput(cmd *cobra.Command, a, b, nameA, nameB string) error {
	ctx := cmd.Context()
	if ds, ok := jsonFiles(a, b); ok {
		for _, d := range ds {
			fmt.Fprintf(cmd.OutOrStdout(), "  %s: %s → %s\n", d.Where(), show(d.A), show(d.B))
		}
		if len(ds) == 0 {
			fmt.Fprintln(cmd.OutOrStdout(), "  the same JSON values, encoded differently")
		}
		return nil
	}
	var sides [2]diff.Side
	names := []string{nameA, nameB}
	for i, p := range []string{a, b} {
		if src, err := layout.Open(ctx, p); err == nil {
			defer src.Close()
			root, err := src.FindRef("")
			if err != nil {
				return err
			}
			sides[i] = diff.Side{Name: names[i], Fetcher: src, Root: root}
			continue
		}
		s, err := layerSide(p)
		if err != nil {
			return fmt.Errorf("%s: neither an image nor a layer blob", filepath.Base(p))
		}
		s.Name = names[i]
		sides[i] = s
	}
	r, err := diff.Explain(ctx, sides[0], sides[1], diff.Options{})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := diff.Render(&buf, r); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", line)
	}
	return nil
}

// layerSide wraps a layer blob file (a tar, plain or compressed) as a
// one-layer image, so that diff.Explain can explain it.
func layerSide(path string) (diff.Side, error) {
	f, err := os.Open(path)
	if err != nil {
		return diff.Side{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return diff.Side{}, errors.New("not a regular file")
	}
	br := bufio.NewReader(f)
	head, _ := br.Peek(4)
	alg := reproducible.Detect(head)
	blobHash := sha256.New()
	dec, err := reproducible.NewReader(io.TeeReader(br, blobHash), alg)
	if err != nil {
		return diff.Side{}, err
	}
	diffHash := sha256.New()
	tr := tar.NewReader(io.TeeReader(dec, diffHash))
	if _, err := tr.Next(); err != nil && err != io.EOF {
		return diff.Side{}, fmt.Errorf("not a tar: %v", err)
	}
	if _, err := io.Copy(io.Discard, io.TeeReader(dec, diffHash)); err != nil {
		return diff.Side{}, err
	}
	dec.Close()
	if _, err := io.Copy(blobHash, br); err != nil {
		return diff.Side{}, err
	}
	desc := ocispec.Descriptor{
		MediaType: reproducible.Compression{Algorithm: alg}.MediaType(),
		Digest:    digest.NewDigest(digest.SHA256, blobHash),
		Size:      fi.Size(),
	}
	_, config, err := image.NewConfig(image.ConfigOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []image.LayerHistory{{DiffID: digest.NewDigest(digest.SHA256, diffHash), CreatedBy: filepath.Base(path)}},
	})
	if err != nil {
		return diff.Side{}, err
	}
	manifest, err := image.NewManifest(config, []ocispec.Descriptor{desc}, image.ManifestOptions{})
	if err != nil {
		return diff.Side{}, err
	}
	mem := blob.NewMemory()
	for _, b := range []image.Blob{config, manifest} {
		if err := mem.Push(context.Background(), b.Descriptor, bytes.NewReader(b.Data)); err != nil {
			return diff.Side{}, err
		}
	}
	fetch := blob.FetcherFunc(func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
		if d.Digest != desc.Digest {
			return mem.Fetch(ctx, d)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{blob.VerifyReader(f, d), f}, nil
	})
	return diff.Side{Name: path, Fetcher: fetch, Root: manifest.Descriptor}, nil
}

// jsonFiles compares two small JSON files (metadata), if both are.
func jsonFiles(a, b string) ([]diff.Difference, bool) {
	var data [2][]byte
	for i, p := range []string{a, b} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > blob.MaxMetadataBytes {
			return nil, false
		}
		if data[i], err = os.ReadFile(p); err != nil || !json.Valid(data[i]) {
			return nil, false
		}
	}
	ds, err := diff.JSON(filepath.Base(a), data[0], data[1])
	return ds, err == nil
}

func show(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}
