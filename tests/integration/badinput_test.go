package integration_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestBadInput runs `imagewriter build` on broken bases, specs and flags.
// Each must fail with the usage exit code (2) for bad flags and 1 otherwise,
// print one error naming the field, flag or file, and leave nothing in the
// output directory: no output, no .tmp-* file, no work directory.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ex := example(t)
	base := filepath.Join(ex.dir(), "build", "base")
	dir := t.TempDir()

	// The base as an OCI archive, cut in half.
	baseTar := filepath.Join(dir, "base.tar")
	mustIW(t, dir, "build", "-f", filepath.Join(ex.dir(), "base.json"), "-o", baseTar, "--format", "oci-archive")
	whole := readFile(t, baseTar)
	truncated := filepath.Join(dir, "truncated.tar")
	if err := os.WriteFile(truncated, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	// A copy of the base layout (bytes copied, never linked) with one byte
	// of its layer flipped.
	corrupt := filepath.Join(dir, "corrupt-base")
	for name, e := range readTreeBytes(t, base) {
		p := filepath.Join(corrupt, name)
		switch e.Kind {
		case "dir":
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case "file":
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, e.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	layer := readGraph(t, base).manifest["linux/amd64"].Layers[0].Digest
	flip(t, blobPath(corrupt, layer), 100)

	// A legacy docker archive whose layer is a symlink leaving the archive.
	escaping := filepath.Join(dir, "escaping.tar")
	writeTarFile(t, escaping, []tarEntry{
		{name: "c.json", data: `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest.FromString("").String() + `"]}}`},
		{name: "l/layer.tar", link: "../../../etc/passwd"},
		{name: "manifest.json", data: `[{"Config":"c.json","RepoTags":["x:v1"],"Layers":["l/layer.tar"]}]`},
	})

	// spec is a minimal valid spec on the base with changes applied.
	spec := func(change func(m map[string]any)) string {
		m := map[string]any{
			"base":      map[string]any{"path": base, "ref": "v1"},
			"platforms": []any{"linux/amd64"},
			"layers": []any{map[string]any{"entries": []any{
				map[string]any{"type": "file", "path": "/etc/app.conf", "content": "x=1\n"},
			}}},
		}
		if change != nil {
			change(m)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	config := func(k string, v any) func(map[string]any) {
		return func(m map[string]any) { m["config"] = map[string]any{k: v} }
	}
	entry := func(e map[string]any) func(map[string]any) {
		return func(m map[string]any) { m["layers"] = []any{map[string]any{"entries": []any{e}}} }
	}

	for _, tc := range []struct {
		name     string
		spec     string   // JSON; "" for none
		args     []string // after build -f SPEC -o OUT
		noOutput bool     // no -o
		code     int
		want     []string // each must appear in stderr (case-insensitive)
	}{
		{
			name: "base missing",
			spec: spec(func(m map[string]any) { m["base"] = map[string]any{"path": filepath.Join(dir, "no-such-base")} }),
			code: 1, want: []string{"base", "no-such-base", "no such file"},
		},
		{
			name: "base truncated",
			spec: spec(func(m map[string]any) { m["base"] = map[string]any{"path": truncated} }),
			code: 1, want: []string{"base", "truncated.tar", "corrupt archive"},
		},
		{
			name: "base blob digest mismatch",
			spec: spec(func(m map[string]any) { m["base"] = map[string]any{"path": corrupt} }),
			code: 1, want: []string{"corrupt-base/blobs/sha256/" + layer.Encoded(), "digest mismatch", "want " + layer.String()},
		},
		{
			name: "base blob digest mismatch, to an archive",
			spec: spec(func(m map[string]any) { m["base"] = map[string]any{"path": corrupt} }),
			args: []string{"--format", "oci-archive"},
			code: 1, want: []string{"corrupt-base/blobs/sha256/" + layer.Encoded(), "digest mismatch"},
		},
		{
			name: "base archive with a symlink out of it",
			spec: spec(func(m map[string]any) { m["base"] = map[string]any{"path": escaping} }),
			code: 1, want: []string{"base", "escaping.tar", `member "l/layer.tar"`, "unsafe path"},
		},
		{
			name: "base without the platform",
			spec: spec(func(m map[string]any) { m["platforms"] = []any{"linux/s390x"} }),
			code: 1, want: []string{"base", "no manifest for platform linux/s390x", "have linux/amd64, linux/arm64"},
		},
		{
			name: "base ref not in the layout",
			spec: spec(func(m map[string]any) { m["base"] = map[string]any{"path": base, "ref": "v2"} }),
			code: 1, want: []string{"base", `no image named "v2"`},
		},
		{
			name: "unknown platform in the spec",
			spec: spec(func(m map[string]any) { m["platforms"] = []any{"linux/amd65"} }),
			code: 1, want: []string{"platforms[0]", `unknown architecture "amd65"`},
		},
		{
			name: "platform without an architecture",
			spec: spec(func(m map[string]any) { m["platforms"] = []any{"linux"} }),
			code: 1, want: []string{"platforms[0]", "os/arch"},
		},
		{
			name: "unknown platform flag",
			spec: spec(nil), args: []string{"--platform", "linux/amd65"},
			code: 2, want: []string{"--platform", `unknown architecture "amd65"`},
		},
		{
			name: "env without =",
			spec: spec(config("env", []any{"A=1", "HELLO"})),
			code: 1, want: []string{"config.env[1]", `"HELLO"`, "KEY=VALUE"},
		},
		{
			name: "port with an unknown protocol",
			spec: spec(config("exposedPorts", []any{"80/sctp"})),
			code: 1, want: []string{"config.exposedPorts[0]", `"80/sctp"`, "N, N/tcp or N/udp"},
		},
		{
			name: "port out of range",
			spec: spec(config("exposedPorts", []any{"8080", "65536/tcp"})),
			code: 1, want: []string{"config.exposedPorts[1]", `"65536/tcp"`},
		},
		{
			name: "port that is a name",
			spec: spec(config("exposedPorts", []any{"http"})),
			code: 1, want: []string{"config.exposedPorts[0]", `"http"`},
		},
		{
			name: "invalid tag in the spec",
			spec: spec(func(m map[string]any) { m["tag"] = "example.com/Hello:v1" }),
			code: 1, want: []string{"tag", `"Hello"`},
		},
		{
			name: "invalid tag flag",
			spec: spec(nil), args: []string{"--tag", "example.com/hello:-v1"},
			code: 2, want: []string{"--tag", "tag -v1 is not valid"},
		},
		{
			name: "tag with a digest",
			spec: spec(nil), args: []string{"--tag", "example.com/hello@" + digest.FromString("x").String()},
			code: 2, want: []string{"--tag", "a digest cannot name an output"},
		},
		{
			name: "docker-archive of two platforms",
			spec: spec(func(m map[string]any) { m["platforms"] = []any{"linux/amd64", "linux/arm64"} }),
			args: []string{"--format", "docker-archive"},
			code: 2, want: []string{"docker-archive", "linux/amd64, linux/arm64", "--platform"},
		},
		{
			name: "file with content and source",
			spec: spec(entry(map[string]any{"type": "file", "path": "/a", "content": "x", "source": "/etc/hostname"})),
			code: 1, want: []string{"layers[0]", "entries[0]", "content", "source"},
		},
		{
			name: "file with content and contentBase64",
			spec: spec(entry(map[string]any{"type": "file", "path": "/a", "content": "x", "contentBase64": "eA=="})),
			code: 1, want: []string{"layers[0]", "entries[0]", "content and contentBase64"},
		},
		{
			name: "directory with content",
			spec: spec(entry(map[string]any{"type": "dir", "path": "/a", "content": "x"})),
			code: 1, want: []string{"layers[0]", "entries[0]", "content: not used by a dir entry"},
		},
		{
			name: "source file missing",
			spec: spec(entry(map[string]any{"type": "file", "path": "/a", "source": filepath.Join(dir, "no-such-file")})),
			code: 1, want: []string{"layers[0]", "entries[0]", "no-such-file"},
		},
		{
			name: "no source for a platform",
			spec: spec(func(m map[string]any) {
				m["platforms"] = []any{"linux/amd64", "linux/arm64"}
				entry(map[string]any{"type": "file", "path": "/a", "sources": map[string]any{"linux/amd64": ex.hello("linux/amd64")}})(m)
			}),
			code: 1, want: []string{"layers[0]", "entries[0]", `no source for platform "linux/arm64"`},
		},
		{
			name: "two entries for one path",
			spec: spec(func(m map[string]any) {
				m["layers"] = []any{map[string]any{"entries": []any{
					map[string]any{"type": "file", "path": "/a", "content": "1"},
					map[string]any{"type": "file", "path": "a", "content": "2"},
				}}}
			}),
			code: 1, want: []string{"layers[0]", "entries[0]", "entries[1]"},
		},
		{
			name: "unknown spec field",
			spec: spec(func(m map[string]any) { m["platfroms"] = []any{"linux/amd64"} }),
			code: 1, want: []string{"spec.json", `unknown field "platfroms"`},
		},
		{
			name: "unknown entry field",
			spec: spec(entry(map[string]any{"type": "file", "path": "/a", "contnet": "x"})),
			code: 1, want: []string{"spec.json", `unknown field "contnet"`},
		},
		{
			name: "spec that is not JSON",
			spec: `{"platforms": ["linux/amd64"],}`,
			code: 1, want: []string{"spec.json", "invalid character"},
		},
		{
			name: "spec missing",
			args: []string{"-f", filepath.Join(dir, "no-such-spec.json")},
			code: 1, want: []string{"no-such-spec.json"},
		},
		{
			name: "no output flag", spec: spec(nil), noOutput: true,
			code: 2, want: []string{"-o/--output"},
		},
		{
			name: "unknown format", spec: spec(nil), args: []string{"--format", "tarball"},
			code: 2, want: []string{"--format", "tarball"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specDir, outDir := t.TempDir(), t.TempDir()
			var args []string
			if tc.spec != "" {
				p := filepath.Join(specDir, "spec.json")
				if err := os.WriteFile(p, []byte(tc.spec), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "build", "-f", p)
			} else {
				args = append(args, "build")
			}
			if !tc.noOutput {
				args = append(args, "-o", filepath.Join(outDir, "out"))
			}
			args = append(args, tc.args...)
			r := runIW(t, specDir, args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			low := strings.ToLower(r.stderr)
			for _, w := range tc.want {
				if !strings.Contains(low, strings.ToLower(w)) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if !strings.HasPrefix(r.stderr, "imagewriter build: ") {
				t.Errorf("stderr does not start with the verb:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout of a failed build: %q", r.stdout)
			}
			left, err := os.ReadDir(outDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range left {
				t.Errorf("left behind in the output directory: %s", e.Name())
			}
		})
	}
}

// TestFailedBuildKeepsOutput checks that a failed build leaves a previous
// output as it was: outputs are replaced only when complete.
func TestFailedBuildKeepsOutput(t *testing.T) {
	t.Parallel()
	ex := example(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`{"base":{"path":`+jsonString(filepath.Join(ex.dir(), "build", "base"))+`},"platforms":["linux/arm64"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"config":{"env":["NOEQUALS"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"oci", "oci-archive", "docker-archive"} {
		t.Run(format, func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out")
			mustIW(t, dir, "build", "-f", good, "-o", out, "--format", format)
			before := readTreeBytes(t, outDir)
			if r := runIW(t, dir, "build", "-f", bad, "-o", out, "--format", format); r.code != 1 {
				t.Fatalf("bad build: exit %d, want 1\n%s", r.code, r.stderr)
			}
			if d := diffFiles(before, readTreeBytes(t, outDir)); d != "" {
				t.Errorf("a failed build changed the output directory (-before +after):\n%s", d)
			}
		})
	}
}

// tarEntry is a member of a test archive: a file with data, or a symlink.
type tarEntry struct{ name, data, link string }

// writeTarFile writes entries as a tar at p.
func writeTarFile(t *testing.T, p string, entries []tarEntry) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.data))}
		if e.link != "" {
			h = &tar.Header{Name: e.name, Typeflag: tar.TypeSymlink, Linkname: e.link, Mode: 0o777}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flip inverts one bit of byte off of the file at p.
func flip(t *testing.T, p string, off int) {
	t.Helper()
	b := readFile(t, p)
	b[off] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
