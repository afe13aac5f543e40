package layer_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// docBlock returns the fenced block that follows "<!-- tested: NAME -->".
func docBlock(t *testing.T, doc, name string) string {
	t.Helper()
	marker := "<!-- tested: " + name + " -->\n"
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("docs/layer-spec.md has no %q block", name)
	}
	rest := doc[i+len(marker):]
	open := strings.Index(rest, "\n")
	end := strings.Index(rest, "\n```\n")
	if !strings.HasPrefix(rest, "```") || open < 0 || end < open {
		t.Fatalf("docs/layer-spec.md: %q is not followed by a fenced block", name)
	}
	return rest[open+1 : end+1]
}

// TestLayerSpecDoc keeps docs/layer-spec.md true: its setup commands and its
// full example build, the layer lists as the page shows, and every JSON
// field of the spec types is documented.
func TestLayerSpecDoc(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "layer-spec.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)

	for _, typ := range []reflect.Type{
		reflect.TypeFor[layer.SpecFile](), reflect.TypeFor[layer.EntrySpec](), reflect.TypeFor[layer.Attributes](),
		reflect.TypeFor[layer.Defaults](), reflect.TypeFor[reproducible.Compression](),
	} {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous || name == "" || name == "-" {
				continue
			}
			if !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("docs/layer-spec.md does not document %s.%s (`%s`)", typ.Name(), f.Name, name)
			}
		}
	}

	dir := t.TempDir()
	setup := exec.Command(needTool(t, "bash"), "-euo", "pipefail", "-c", docBlock(t, doc, "layer setup"))
	setup.Dir = dir
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("the setup commands: %v\n%s", err, out)
	}
	spec := filepath.Join(dir, "example", "layer.json")
	writeFile(t, spec, docBlock(t, doc, "layer example"), 0o644)
	sb, _ := os.ReadFile(spec)
	sf, err := layer.ParseSpecFile(spec, sb)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sf.Spec(layer.ResolveOptions{BaseDir: filepath.Dir(spec), Platform: "linux/amd64", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blob, m := build(t, s, sf.Compression.Algorithm)
	if m.Compression.Level != 3 || m.Descriptor.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Errorf("metadata %+v: want zstd level 3, as the example says", m)
	}
	out := filepath.Join(dir, "example", "layer.tar.zst")
	if err := os.WriteFile(out, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	list := run(t, exec.Command(needTool(t, "tar"), "--zstd", "--numeric-owner", "--full-time", "-tvf", out))
	squeeze := regexp.MustCompile(` +`)
	want := squeeze.ReplaceAllString(docBlock(t, doc, "layer listing"), " ")
	if diff := cmp.Diff(want, squeeze.ReplaceAllString(string(list), " ")); diff != "" {
		t.Errorf("the listing in docs/layer-spec.md (-doc +built):\n%s", diff)
	}
	for _, size := range []string{`"size": ` + strconv.FormatInt(m.Descriptor.Size, 10), `"uncompressedSize": ` + strconv.FormatInt(m.UncompressedSize, 10), m.Compression.Implementation} {
		if !strings.Contains(doc, size) {
			t.Errorf("the metadata example in docs/layer-spec.md should show %s", size)
		}
	}
}
