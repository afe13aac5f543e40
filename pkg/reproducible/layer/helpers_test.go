package layer_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// update rewrites the golden files and the fuzz seed tars under testdata/:
//
//	go test ./pkg/reproducible/layer -run 'TestGolden|TestFuzzSeeds' -update
var update = flag.Bool("update", false, "rewrite testdata/golden and testdata/tars")

// needTool returns the path of an external program a test needs. A missing
// tool fails the test: these checks must run in CI, never skip.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found on PATH: run `make deps` (scripts/install-deps.sh) to install the test tools", name)
	}
	return p
}

// writeFile creates path (and its parents) with content and mode, which
// the umask filters as usual.
func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// writeSpec writes v as a spec file and returns its path.
func writeSpec(t testing.TB, dir string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "spec.json")
	writeFile(t, p, string(b), 0o644)
	return p
}

// loadSpec parses and resolves a spec file as `imagewriter layer` does.
func loadSpec(t testing.TB, specPath string) (*layer.Spec, error) {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := layer.ParseSpecFile(specPath, b)
	if err != nil {
		return nil, err
	}
	s, err := sf.Spec(layer.ResolveOptions{BaseDir: filepath.Dir(specPath), TempDir: t.TempDir()})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.Close() })
	return s, nil
}

// build builds s with compression alg and returns the blob and metadata.
func build(t testing.TB, s *layer.Spec, alg reproducible.Algorithm) ([]byte, layer.Metadata) {
	t.Helper()
	var buf bytes.Buffer
	m, err := layer.Build(context.Background(), &buf, s, layer.BuildOptions{Compression: reproducible.Compression{Algorithm: alg}})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m
}

// tarEntry is one member of an input tar made in code.
type tarEntry struct {
	tar.Header
	Body string
}

// makeTar returns a tar of entries written by archive/tar, in order. Unset
// formats are PAX; unset mtimes are 2020-02-02T02:02:02Z.
func makeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		if h.ModTime.IsZero() && h.Typeflag != tar.TypeXGlobalHeader {
			h.ModTime = time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)
		}
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatPAX
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawHeader returns a USTAR header block built byte by byte, for names
// archive/tar's writer would not write (invalid UTF-8) or would rewrite.
func rawHeader(name string, typeflag byte, size int64, linkname string) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typeflag
	copy(b[157:257], linkname)
	copy(b[257:265], "ustar\x0000")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// rawPAX returns a PAX extended header ('x') block and its records, in the
// order given ("key", "value", ...), for records archive/tar will not write
// (GNU.sparse.*).
func rawPAX(kv ...string) []byte {
	var recs strings.Builder
	for i := 0; i < len(kv); i += 2 {
		rec := " " + kv[i] + "=" + kv[i+1] + "\n"
		n := len(rec)
		for len(fmt.Sprint(n))+len(rec) != n {
			n = len(fmt.Sprint(n)) + len(rec)
		}
		fmt.Fprintf(&recs, "%d%s", n, rec)
	}
	data := []byte(recs.String())
	pad := make([]byte, (512-len(data)%512)%512)
	return slices.Concat(rawHeader("PaxHeaders/x", 'x', int64(len(data)), ""), data, pad)
}

// rawTar joins header blocks and bodies (padded to 512 bytes) and adds the
// two zero blocks that end an archive.
func rawTar(parts ...[]byte) []byte {
	var buf bytes.Buffer
	for _, p := range parts {
		buf.Write(p)
		if pad := len(p) % 512; pad != 0 {
			buf.Write(make([]byte, 512-pad))
		}
	}
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := reproducible.NewWriter(&buf, reproducible.Compression{Algorithm: reproducible.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readLayer reads a built blob back with layer.Reader and returns its
// entries, with each regular file's bytes as an Inline source.
func readLayer(t testing.TB, blob []byte, alg reproducible.Algorithm) []layer.Entry {
	t.Helper()
	rc, err := reproducible.NewReader(bytes.NewReader(blob), alg)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := layer.NewReader(rc)
	var out []layer.Entry
	for {
		e, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading the built layer back: %v", err)
		}
		if e.Kind == layer.File {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			e.Source = layer.Inline(b)
		}
		out = append(out, *e)
	}
}

// listTar describes every header of a plain tar, one line each, with every
// field a layer's bytes depend on. It is the readable half of the goldens.
func listTar(t testing.TB, b []byte) string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var lines []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		var pax []string
		for _, k := range slices.Sorted(maps.Keys(h.PAXRecords)) {
			pax = append(pax, fmt.Sprintf("%s=%q", k, h.PAXRecords[k]))
		}
		line := fmt.Sprintf("%c %04o %d:%d %q:%q %d %s %q", h.Typeflag, h.Mode, h.Uid, h.Gid, h.Uname, h.Gname, h.Size, h.ModTime.UTC().Format(time.RFC3339), h.Name)
		if h.Linkname != "" {
			line += fmt.Sprintf(" -> %q", h.Linkname)
		}
		if len(pax) > 0 {
			line += " pax{" + strings.Join(pax, " ") + "}"
		}
		if len(data) > 0 && len(data) <= 32 {
			line += fmt.Sprintf(" data=%q", data)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n") + "\n"
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }
