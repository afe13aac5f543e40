package integration_test

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
)

// docBlock returns the fenced code block that follows marker in doc.
func docBlock(t *testing.T, doc, marker string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, marker)
	if !ok {
		t.Fatalf("docs/build-spec.md: no %q", marker)
	}
	_, rest, ok = strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("docs/build-spec.md: no code block after %q", marker)
	}
	_, rest, _ = strings.Cut(rest, "\n") // the info string
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("docs/build-spec.md: unterminated code block after %q", marker)
	}
	return block
}

// TestBuildSpecDoc builds the examples of docs/build-spec.md in a copy of
// the built example, and checks that the full example and the page's
// tables name every field of build.SpecFile.
func TestBuildSpecDoc(t *testing.T) {
	t.Parallel()
	ex := example(t)
	doc := string(readFile(t, filepath.Join(repoRoot(t), "docs", "build-spec.md")))
	full := docBlock(t, doc, "<!-- tested: full example -->")
	yml := docBlock(t, doc, "<!-- tested: yaml example -->")

	// Every field of the spec types is in the example and in a table.
	var example any
	decode(t, "full example", []byte(full), &example)
	have := map[string]bool{}
	keysOf(example, "", have)
	for _, f := range fieldsOf(reflect.TypeFor[build.SpecFile](), "") {
		if !have[f] {
			t.Errorf("docs/build-spec.md: the full example does not set %s", f)
		}
		name := f[strings.LastIndexAny(f, ".")+1:]
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/build-spec.md: no table names `%s` (%s)", name, f)
		}
	}
	if _, err := build.ParseSpecFile("full.json", []byte(full)); err != nil {
		t.Fatalf("the full example does not parse: %v", err)
	}

	// Build both, next to image.json, on a copy of the example's inputs.
	dir := filepath.Join(t.TempDir(), "hello")
	copyDir(t, ex.dir(), dir)
	writeExtrasTar(t, filepath.Join(dir, "build", "extras.tar"))
	for name, spec := range map[string]string{"full.json": full, "hello.yaml": yml} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	mustIW(t, dir, "build", "-f", "full.json", "-o", filepath.Join(out, "full"))
	mustIW(t, dir, "build", "-f", "hello.yaml", "-o", filepath.Join(out, "yaml"))

	g := readGraph(t, filepath.Join(out, "full"))
	if len(g.manifests) != 2 {
		t.Errorf("full example: %d platforms, want 2", len(g.manifests))
	}
	for p, c := range g.config {
		if c.Author != "The rules_imagewriter authors" || !c.Created.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) || c.Config.StopSignal != "SIGTERM" || len(c.Config.Cmd) != 0 {
			t.Errorf("full example %s config: %+v", p, c)
		}
		if n := len(g.manifest[p].Layers); n != 3 || !strings.HasSuffix(g.manifest[p].Layers[2].MediaType, "+zstd") || !strings.HasSuffix(g.manifest[p].Layers[1].MediaType, "+gzip") {
			t.Errorf("full example %s layers: %+v", p, g.manifest[p].Layers)
		}
	}
	y := readGraph(t, filepath.Join(out, "yaml"))
	if c := y.config["linux/amd64"]; !slices.Equal(c.Config.Entrypoint, []string{"/usr/bin/hello"}) {
		t.Errorf("yaml example config: %+v", c.Config)
	}
}

// fieldsOf lists the JSON field paths of t: "config.healthcheck.test",
// "layers[].entries[].sources". Maps of strings are leaves; maps of structs
// are descended as "name{}".
func fieldsOf(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" {
			out = append(out, fieldsOf(f.Type, prefix)...)
			continue
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		path := prefix + tag
		out = append(out, path)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, fieldsOf(ft, path+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, fieldsOf(ft.Elem(), path+"[].")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, fieldsOf(ft.Elem(), path+"{}.")...)
		}
	}
	sort.Strings(out)
	return out
}

// keysOf records the field paths present in v, in fieldsOf's notation,
// taking the union over list elements and the values of maps of objects.
func keysOf(v any, prefix string, have map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			path := prefix + k
			have[path] = true
			switch x := x.(type) {
			case map[string]any:
				keysOf(x, path+".", have)
				for _, y := range x { // a map of objects
					if m, ok := y.(map[string]any); ok {
						keysOf(m, path+"{}.", have)
					}
				}
			case []any:
				for _, y := range x {
					keysOf(y, path+"[].", have)
				}
			}
		}
	}
}

// copyDir copies the files under src to dst (bytes, not links).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	for name, e := range readTreeBytes(t, src) {
		p := filepath.Join(dst, name)
		switch e.Kind {
		case "dir":
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case "file":
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, e.Data, e.Mode.Perm()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// writeExtrasTar writes the tar the full example expands: a directory and
// a file, with an owner's names and a 2020 mtime.
func writeExtrasTar(t *testing.T, p string) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	notes := []byte("Notes that came in a tar.\n")
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "notes/", Mode: 0o755, ModTime: mtime, Uname: "builder", Gname: "builder"},
		{Typeflag: tar.TypeReg, Name: "notes/NOTES.txt", Mode: 0o644, ModTime: mtime, Uname: "builder", Gname: "builder", Size: int64(len(notes))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(notes)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
