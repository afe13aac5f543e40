package diff_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/diff"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

const baseSpec = `{
  "platforms": ["linux/amd64"],
  "config": {"env": ["A=1", "B=2"], "labels": {"org.example.v": "1"}, "cmd": ["/usr/bin/app"]},
  "layers": [
    {"entries": [
      {"type": "dir", "path": "etc"},
      {"type": "file", "path": "etc/hello", "content": "hello\n", "mode": "0644"},
      {"type": "file", "path": "etc/other", "content": "x"}
    ]},
    {"entries": [
      {"type": "dir", "path": "usr/bin", "mode": "0755"},
      {"type": "file", "path": "usr/bin/app", "content": "#!/bin/sh\n", "mode": "0755"}
    ]}
  ]
}`

func parse(t testing.TB) *build.SpecFile {
	t.Helper()
	sf, err := build.ParseSpecFile("spec.json", []byte(baseSpec))
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

func ptr[T any](v T) *T { return &v }

// buildLayout builds sf into a new OCI layout and returns its path.
func buildLayout(t testing.TB, sf *build.SpecFile) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	built, err := build.Build(ctx, sf, build.Options{BaseDir: dir, WorkDir: dir})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer built.Close()
	dst := filepath.Join(t.TempDir(), "layout")
	built.Output.Format = layout.FormatDir
	if err := build.Write(ctx, dst, built.Output, built.Blobs); err != nil {
		t.Fatalf("write: %v", err)
	}
	return dst
}

// side opens a layout or archive with a single image.
func side(t testing.TB, path string) diff.Side {
	t.Helper()
	src, err := layout.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	root, err := src.FindRef("")
	if err != nil {
		t.Fatal(err)
	}
	return diff.Side{Name: path, Fetcher: src, Root: root}
}

func explain(t testing.TB, a, b string, opts diff.Options) diff.Report {
	t.Helper()
	r, err := diff.Explain(context.Background(), side(t, a), side(t, b), opts)
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	return r
}

func summary(r diff.Report) []string {
	var out []string
	for _, d := range r.Differences {
		out = append(out, d.Where()+" "+d.Change)
	}
	return out
}

// TestOneDifference builds pairs of images that differ in exactly one
// thing; the report must name that thing and nothing else.
func TestOneDifference(t *testing.T) {
	base := buildLayout(t, parse(t))
	tests := []struct {
		name   string
		change func(sf *build.SpecFile)
		want   []string
		// check looks at the values too.
		check func(t *testing.T, d diff.Difference)
	}{
		{
			name:   "env var",
			change: func(sf *build.SpecFile) { sf.Config.Env[1] = "B=3" },
			want:   []string{"config config.Env[1] changed"},
			check: func(t *testing.T, d diff.Difference) {
				if d.A != `"B=2"` || d.B != `"B=3"` {
					t.Errorf("values %s, %s", d.A, d.B)
				}
			},
		},
		{
			name:   "env var added",
			change: func(sf *build.SpecFile) { sf.Config.Env = append(sf.Config.Env, "C=1") },
			want:   []string{"config config.Env[2] added"},
		},
		{
			name:   "label",
			change: func(sf *build.SpecFile) { sf.Config.Labels["org.example.v"] = "2" },
			want:   []string{`config config.Labels["org.example.v"] changed`},
		},
		{
			name:   "one file's mode",
			change: func(sf *build.SpecFile) { sf.Layers[0].Entries[1].Mode = ptr(layer.Mode(0o755)) },
			want:   []string{"layers[0]: etc/hello: mode changed"},
			check: func(t *testing.T, d diff.Difference) {
				if d.A != "0644" || d.B != "0755" {
					t.Errorf("values %s, %s", d.A, d.B)
				}
			},
		},
		{
			name:   "one file's mtime",
			change: func(sf *build.SpecFile) { sf.Layers[0].Entries[1].Mtime = ptr("2001-02-03T04:05:06Z") },
			want:   []string{"layers[0]: etc/hello: mtime changed"},
			check: func(t *testing.T, d diff.Difference) {
				if d.A != "1970-01-01T00:00:00Z" || d.B != "2001-02-03T04:05:06Z" {
					t.Errorf("values %s, %s", d.A, d.B)
				}
			},
		},
		{
			name:   "one file's content",
			change: func(sf *build.SpecFile) { sf.Layers[0].Entries[1].Content = ptr("world\n") },
			want:   []string{"layers[0]: etc/hello: content changed"},
		},
		{
			name: "one added file",
			change: func(sf *build.SpecFile) {
				sf.Layers[1].Entries = append(sf.Layers[1].Entries, parseEntry(t, `{"type": "file", "path": "usr/bin/new", "content": "n"}`))
			},
			want: []string{"layers[1]: usr/bin/new added"},
		},
		{
			name: "compression level",
			change: func(sf *build.SpecFile) {
				sf.Compression = &reproducible.Compression{Algorithm: reproducible.Gzip, Level: 9}
			},
			want: []string{"layers[0]: compression changed", "layers[1]: compression changed"},
			check: func(t *testing.T, d diff.Difference) {
				if !strings.Contains(d.A, "reproduces it exactly with level 6") || !strings.Contains(d.B, "reproduces it exactly with level 9") {
					t.Errorf("compression not explained:\na: %s\nb: %s", d.A, d.B)
				}
			},
		},
		{
			name:   "layer order",
			change: func(sf *build.SpecFile) { sf.Layers[0], sf.Layers[1] = sf.Layers[1], sf.Layers[0] },
			want:   []string{"layers: order changed"},
		},
		{
			name:   "history",
			change: func(sf *build.SpecFile) { sf.Layers[1].CreatedBy = "COPY app /usr/bin/app" },
			want:   []string{"config history[1].created_by changed"},
		},
		{
			name: "annotation",
			change: func(sf *build.SpecFile) {
				sf.Annotations = map[string]string{"org.opencontainers.image.version": "1.0"}
			},
			want: []string{"manifest annotations added"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sf := parse(t)
			tc.change(sf)
			r := explain(t, base, buildLayout(t, sf), diff.Options{})
			if d := cmp.Diff(tc.want, summary(r)); d != "" {
				var buf bytes.Buffer
				diff.Render(&buf, r)
				t.Errorf("differences (-want +got):\n%s\nreport:\n%s", d, buf.String())
			}
			if tc.check != nil && len(r.Differences) > 0 {
				tc.check(t, r.Differences[0])
			}
			if r.Identical {
				t.Errorf("Identical for different images")
			}
		})
	}
}

func parseEntry(t testing.TB, s string) layer.EntrySpec {
	t.Helper()
	var e layer.EntrySpec
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestIdentical(t *testing.T) {
	a, b := buildLayout(t, parse(t)), buildLayout(t, parse(t))
	r := explain(t, a, b, diff.Options{})
	if !r.Identical || len(r.Differences) != 0 {
		t.Errorf("two builds of one spec: identical %v, differences %v", r.Identical, summary(r))
	}
	var buf bytes.Buffer
	if err := diff.Render(&buf, r); err != nil || !strings.Contains(buf.String(), "identical") {
		t.Errorf("render: %v\n%s", err, buf.String())
	}
}

// TestPlatforms compares indexes: a platform added, and a change in one
// platform only.
func TestPlatforms(t *testing.T) {
	two := parse(t)
	two.Platforms = []string{"linux/amd64", "linux/arm64"}
	three := parse(t)
	three.Platforms = []string{"linux/amd64", "linux/arm64", "linux/riscv64"}
	a, b := buildLayout(t, two), buildLayout(t, three)
	if d := cmp.Diff([]string{"index manifests[linux/riscv64] added"}, summary(explain(t, a, b, diff.Options{}))); d != "" {
		t.Errorf("platform added (-want +got):\n%s", d)
	}
	// A single-platform image against the index: the kinds differ, the
	// amd64 image is the same, the other platform is added.
	one := buildLayout(t, parse(t))
	want := []string{"index changed", "index manifests[linux/arm64] added"}
	if d := cmp.Diff(want, summary(explain(t, one, a, diff.Options{}))); d != "" {
		t.Errorf("manifest vs index (-want +got):\n%s", d)
	}
	// --platform restricts the walk.
	arm := &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	if r := explain(t, a, b, diff.Options{Platform: arm}); len(r.Differences) != 0 {
		t.Errorf("restricted to linux/arm64: %v, want none", summary(r))
	}
}

// TestCrane compares an image crane made from a tar with the image we
// build from the same tar: the same files, so the report must be about
// the config and tar header fields, never about file content.
func TestCrane(t *testing.T) {
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	if err := os.MkdirAll(filepath.Join(files, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "etc/hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "layer.tar")
	if out, err := exec.Command("tar", "-C", files, "-cf", tarPath, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	craneOut := filepath.Join(dir, "crane.tar")
	checkers.Run(t, dir, "crane", "append", "-f", tarPath, "-t", "example.com/x:v1", "-o", craneOut)

	sf, err := build.ParseSpecFile("spec.json", []byte(fmt.Sprintf(`{"layers": [{"entries": [{"type": "tar", "source": %q}]}]}`, tarPath)))
	if err != nil {
		t.Fatal(err)
	}
	ours := buildLayout(t, sf)
	r := explain(t, craneOut, ours, diff.Options{})
	var buf bytes.Buffer
	diff.Render(&buf, r)
	t.Logf("crane vs imagewriter:\n%s", buf.String())
	fields := map[string]bool{}
	for _, d := range r.Differences {
		switch d.Object {
		case diff.ObjectEntry:
			if d.Field == "content" {
				t.Errorf("content reported different for the same files: %s", d.Where())
			}
			fields[d.Field] = true
		case diff.ObjectConfig:
			fields["config "+d.Path] = true
		}
	}
	for _, want := range []string{"config os", "config architecture", "config created", "mtime", "uname", "gname"} {
		if !fields[want] {
			t.Errorf("the report does not name %q; it names %v", want, fields)
		}
	}
}

func TestJSON(t *testing.T) {
	got, err := diff.JSON("metadata", []byte(`{"a": [1, 2], "b": {"c d": "x"}, "e": true}`), []byte(`{"a": [1, 3], "b": {"c d": "y"}, "f": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, d := range got {
		s = append(s, fmt.Sprintf("%s %s %s %s", d.Where(), d.Change, d.A, d.B))
	}
	want := []string{`metadata a[1] changed 2 3`, `metadata b["c d"] changed "x" "y"`, `metadata e removed true `, `metadata f added  1`}
	if d := cmp.Diff(want, s); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := diff.JSON("x", []byte("{"), []byte("{}")); err == nil {
		t.Error("no error for bad JSON")
	}
}
