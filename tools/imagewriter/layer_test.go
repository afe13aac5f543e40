package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b), 0o644)
}

// listDir names what is in dir, temporary files included.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// compressible returns n bytes of pseudo-random text that compresses
// about 3:1, the same for a seed.
func compressible(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	words := []string{"layer", "image", "digest", "tar", "gzip", "zstd", "reproducible", "bazel", "oci", "manifest"}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "%s %d %s\n", words[r.IntN(len(words))], r.Uint32(), words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

// TestLayer builds a layer with the CLI and checks the blob against its
// metadata file and the library's own build of the same spec.
func TestLayer(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src", "app"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(dir, "src", "tree", "a.txt"), "a\n", 0o644)
	spec := filepath.Join(dir, "spec.json")
	writeJSON(t, spec, map[string]any{
		"compression":             map[string]any{"algorithm": "zstd", "level": 9},
		"createParentDirectories": true,
		"entries": []any{
			map[string]any{"type": "file", "path": "/usr/bin/app", "source": "src/app"},
			map[string]any{"type": "tree", "path": "/opt/tree", "source": "src/tree"},
			map[string]any{"type": "file", "path": "/etc/motd", "content": "hi\n"},
		},
	})
	tests := []struct {
		name      string
		args      []string
		wantAlg   reproducible.Algorithm
		wantLevel int
		metadata  string
	}{
		{name: "the spec's compression", wantAlg: reproducible.Zstd, wantLevel: 9},
		{name: "--compression overrides, at its default level", args: []string{"--compression", "gzip"}, wantAlg: reproducible.Gzip, wantLevel: 6},
		{name: "--level overrides", args: []string{"--level", "1"}, wantAlg: reproducible.Zstd, wantLevel: 1},
		{name: "none", args: []string{"--compression", "none"}, wantAlg: reproducible.None},
		{name: "--metadata elsewhere", args: []string{"--compression", "gzip", "--level", "9"}, wantAlg: reproducible.Gzip, wantLevel: 9, metadata: "meta/layer.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "layer.blob")
			meta := out + ".json"
			args := append([]string{"layer", "--spec", spec, "--output", out}, tt.args...)
			if tt.metadata != "" {
				meta = filepath.Join(filepath.Dir(out), tt.metadata)
				if err := os.MkdirAll(filepath.Dir(meta), 0o755); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--metadata", meta)
			}
			r := runCLI(t, nil, args...)
			r.check(t, 0)
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
			blob, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			m, err := layer.ReadMetadata(meta)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(blob)
			if d := "sha256:" + hex.EncodeToString(sum[:]); d != m.Descriptor.Digest.String() || int64(len(blob)) != m.Descriptor.Size {
				t.Errorf("metadata %s/%d does not describe the blob %s/%d", m.Descriptor.Digest, m.Descriptor.Size, d, len(blob))
			}
			if m.Compression.Algorithm != tt.wantAlg || m.Compression.Level != tt.wantLevel || m.Descriptor.MediaType != (reproducible.Compression{Algorithm: tt.wantAlg}).MediaType() {
				t.Errorf("compression %+v, media type %s; want %s level %d", m.Compression, m.Descriptor.MediaType, tt.wantAlg, tt.wantLevel)
			}
			wantOut := fmt.Sprintf("%s %s diffID=%s size=%d\n", out, m.Descriptor.Digest, m.DiffID, m.Descriptor.Size)
			if r.stdout != wantOut {
				t.Errorf("stdout %q, want %q", r.stdout, wantOut)
			}
			for _, p := range []string{out, meta} {
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: %v, mode %v; want 0644", p, err, fi.Mode())
				}
			}
			// The library builds the same bytes from the same spec.
			b, _ := os.ReadFile(spec)
			sf, err := layer.ParseSpecFile(spec, b)
			if err != nil {
				t.Fatal(err)
			}
			s, err := sf.Spec(layer.ResolveOptions{BaseDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var lib bytes.Buffer
			if _, err := layer.Build(t.Context(), &lib, s, layer.BuildOptions{Compression: reproducible.Compression{Algorithm: tt.wantAlg, Level: tt.wantLevel}}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(lib.Bytes(), blob) {
				t.Error("the CLI and the library built different bytes")
			}
		})
	}
}

// TestLayerTimeFlags: --mtime and --source-date-epoch set the default mtime;
// $SOURCE_DATE_EPOCH is ignored unless the flag asks for it.
func TestLayerTimeFlags(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.json")
	writeJSON(t, spec, map[string]any{"entries": []any{
		map[string]any{"type": "dir", "path": "/a"},
		map[string]any{"type": "dir", "path": "/b", "mtime": "2000-01-01T00:00:00Z"},
	}})
	sde := map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}
	tests := []struct {
		name  string
		vars  map[string]string
		args  []string
		wantA int64
	}{
		{name: "default: the epoch, whatever the environment", vars: sde, wantA: 0},
		{name: "--source-date-epoch", vars: sde, args: []string{"--source-date-epoch"}, wantA: 1700000000},
		{name: "--mtime @N", args: []string{"--mtime", "@1600000000"}, wantA: 1600000000},
		{name: "--mtime=RFC 3339", args: []string{"--mtime=2021-01-01T09:00:00+09:00"}, wantA: 1609459200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "layer.tar")
			runCLI(t, tt.vars, append([]string{"layer", "--spec", spec, "--output", out, "--compression", "none"}, tt.args...)...).check(t, 0)
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tr := tar.NewReader(f)
			got := map[string]int64{}
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got[h.Name] = h.ModTime.Unix()
			}
			want := map[string]int64{"a/": tt.wantA, "b/": 946684800}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mtimes (-want +got):\n%s", diff)
			}
		})
	}
	r := runCLI(t, map[string]string{"SOURCE_DATE_EPOCH": "soon"}, "layer", "--spec", spec, "--output", filepath.Join(dir, "x"), "--source-date-epoch")
	r.check(t, exitFailure, `SOURCE_DATE_EPOCH "soon"`)
}

// TestLayerBadInput runs each bad input of issue 2 through the CLI: exit 1,
// a message naming the file, path or field, and nothing left in the output
// directory, not even a temporary file.
func TestLayerBadInput(t *testing.T) {
	type files map[string]string
	tarOf := func(name string, typeflag byte, link string) string {
		var buf bytes.Buffer
		h := make([]byte, 512)
		copy(h, name)
		copy(h[100:], "0000644\x00")
		copy(h[108:], "0000000\x00")
		copy(h[116:], "0000000\x00")
		copy(h[124:], "00000000000\x00")
		copy(h[136:], "00000000000\x00")
		h[156] = typeflag
		copy(h[157:], link)
		copy(h[257:], "ustar\x0000")
		copy(h[148:], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		buf.Write(h)
		buf.Write(make([]byte, 1024))
		return buf.String()
	}
	var goodTar bytes.Buffer
	tw := tar.NewWriter(&goodTar)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/hosts", Size: 2000, Mode: 0o644})
	tw.Write(bytes.Repeat([]byte("x"), 2000))
	tw.Close()

	tests := []struct {
		name    string
		files   files
		entries []any
		raw     string
		want    []string
	}{
		{name: "missing source", entries: []any{map[string]any{"type": "file", "path": "/a", "source": "nope"}}, want: []string{"entries[0]", "nope", "no such file or directory"}},
		{name: "empty destination", entries: []any{map[string]any{"type": "dir", "path": ""}}, want: []string{`""`, "entries[0]", "empty path"}},
		{name: "root destination", entries: []any{map[string]any{"type": "dir", "path": "/"}}, want: []string{"entries[0]", "names the root itself"}},
		{name: "climbing destination", entries: []any{map[string]any{"type": "dir", "path": "../x"}}, want: []string{"entries[0]", `"../x" climbs out of the root`}},
		{name: "climbing later", entries: []any{map[string]any{"type": "dir", "path": "a/../../x"}}, want: []string{"entries[0]", `"a/../../x" climbs out of the root`}},
		{name: "duplicate path", entries: []any{map[string]any{"type": "dir", "path": "/a"}, map[string]any{"type": "file", "path": "a", "content": ""}}, want: []string{"entries[0]", "entries[1]", "duplicate path"}},
		{name: "file and parent", entries: []any{map[string]any{"type": "file", "path": "/a", "content": ""}, map[string]any{"type": "dir", "path": "/a/b"}}, want: []string{"entries[0]", "entries[1]", "parent directory of a/b"}},
		{name: "hard link to nothing", entries: []any{map[string]any{"type": "hardlink", "path": "/a", "target": "/b"}}, want: []string{"entries[0]", "hard link to b, which is not in this layer"}},
		{name: "mode 10000", raw: `{"entries":[{"type":"dir","path":"/a","mode":"10000"}]}`, want: []string{"spec.json", `mode "10000"`, "0..07777"}},
		{name: "FIFO source", files: files{"f": "fifo"}, entries: []any{map[string]any{"type": "file", "path": "/a", "source": "f"}}, want: []string{"entries[0]", "f is a FIFO, not a regular file"}},
		{name: "socket source", files: files{"s": "socket"}, entries: []any{map[string]any{"type": "file", "path": "/a", "source": "s"}}, want: []string{"entries[0]", "s is a socket, not a regular file"}},
		{name: "device source", entries: []any{map[string]any{"type": "file", "path": "/a", "source": "/dev/zero"}}, want: []string{"entries[0]", "/dev/zero is a device"}},
		{name: "corrupt tar", files: files{"in.tar": strings.Repeat("garbage!", 200)}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"entries[0]", "in.tar", "invalid tar header"}},
		{name: "truncated tar", files: files{"in.tar": goodTar.String()[:1500]}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"in.tar", "unexpected EOF"}},
		{name: "truncated gzip tar", files: files{"in.tar": string(gz(t, goodTar.Bytes())[:100])}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"in.tar", "unexpected EOF"}},
		{name: "tar without end marker", files: files{"in.tar": goodTar.String()[:512*5]}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"in.tar", "end-of-archive marker"}},
		{name: "absolute name in tar", files: files{"in.tar": tarOf("/etc/passwd", '0', "")}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"in.tar", `"/etc/passwd" is absolute`}},
		{name: "dot dot in tar", files: files{"in.tar": tarOf("a/../../x", '0', "")}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"in.tar", "climbs out of the root"}},
		{name: "hard link out of tar", files: files{"in.tar": tarOf("l", '1', "../etc/passwd")}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"in.tar", "hard link target"}},
		{name: "symlink out of tar", files: files{"in.tar": tarOf("a/l", '2', "../../etc")}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"in.tar", "points outside the root"}},
		{name: "invalid UTF-8 in tar", files: files{"in.tar": tarOf("caf\xe9", '0', "")}, entries: []any{map[string]any{"type": "tar", "source": "in.tar"}}, want: []string{"in.tar", `"caf\xe9"`, "not valid UTF-8"}},
		{name: "invalid UTF-8 in a tree", files: files{"t/caf\xe9": "x"}, entries: []any{map[string]any{"type": "tree", "path": "/t", "source": "t"}}, want: []string{`"t/caf\xe9"`, "not valid UTF-8"}},
		{name: "invalid UTF-8 in the spec", raw: "{\"entries\":[{\"type\":\"dir\",\"path\":\"/caf\xe9\"}]}", want: []string{"spec.json", "not valid UTF-8"}},
		{name: "unknown field", raw: `{"entries":[],"compresion":{}}`, want: []string{"spec.json", `unknown field "compresion"`}},
		{name: "bad compression in the spec", raw: `{"compression":{"algorithm":"xz"},"entries":[]}`, want: []string{"compression", `"xz"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				switch content {
				case "fifo":
					if err := syscall.Mkfifo(p, 0o644); err != nil {
						t.Fatal(err)
					}
				case "socket":
					l, err := net.Listen("unix", p)
					if err != nil {
						t.Fatal(err)
					}
					defer l.Close()
				default:
					writeFile(t, p, content, 0o644)
				}
			}
			spec := filepath.Join(dir, "spec.json")
			if tt.raw != "" {
				writeFile(t, spec, tt.raw, 0o644)
			} else {
				writeJSON(t, spec, map[string]any{"entries": tt.entries})
			}
			outDir := filepath.Join(dir, "out")
			if err := os.Mkdir(outDir, 0o755); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, nil, "layer", "--spec", spec, "--output", filepath.Join(outDir, "layer.tar.gz"))
			r.check(t, exitFailure, append([]string{"imagewriter layer: "}, tt.want...)...)
			if left := listDir(t, outDir); len(left) != 0 {
				t.Errorf("left in the output directory: %q", left)
			}
		})
	}
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := reproducible.NewWriter(&buf, reproducible.Compression{Algorithm: reproducible.Gzip})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestLayerFailsDuringBuild: an error after the blob was started (a source
// that cannot be read, found only when it is opened) must remove the
// partial blob. As root every file is readable, so the CLI runs as nobody.
func TestLayerFailsDuringBuild(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test runs the CLI as another user and needs root (CI runs as root)")
	}
	root := t.TempDir()
	// Everything nobody must reach: the binary, the spec, the output dir.
	for p := root; p != filepath.Dir(p) && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(root, "imagewriter.test")
	self, err := os.ReadFile(selfBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, bin, string(self), 0o755)
	writeFile(t, filepath.Join(root, "ok.txt"), strings.Repeat("readable\n", 200000), 0o644)
	writeFile(t, filepath.Join(root, "secret.txt"), "root only\n", 0o600)
	spec := filepath.Join(root, "spec.json")
	writeJSON(t, spec, map[string]any{"entries": []any{
		map[string]any{"type": "file", "path": "/a/ok.txt", "source": "ok.txt"},
		map[string]any{"type": "file", "path": "/b/secret.txt", "source": "secret.txt"},
	}})
	outDir := filepath.Join(root, "out")
	if err := os.Mkdir(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, alg := range []string{"gzip", "zstd", "none"} {
		r := runProcess(t, bin, nil, nobody, "layer", "--spec", spec, "--compression", alg, "--output", filepath.Join(outDir, "layer"))
		r.check(t, exitFailure, "imagewriter layer: b/secret.txt", "entries[1]", "secret.txt: permission denied")
		if left := listDir(t, outDir); len(left) != 0 {
			t.Errorf("%s: left in the output directory: %q", alg, left)
		}
	}
	// The same command as root works, which shows the failure was the file.
	runProcess(t, bin, nil, nil, "layer", "--spec", spec, "--output", filepath.Join(outDir, "layer")).check(t, 0)
	// A missing output directory fails before anything is written.
	runCLI(t, nil, "layer", "--spec", spec, "--output", filepath.Join(root, "missing", "layer")).check(t, exitFailure, "missing")
}

// TestLayerAcrossProcesses runs the CLI as separate processes in different
// time zones, with different GOMAXPROCS and umask, on a spec with a file
// large enough for many parallel gzip blocks: the blobs and metadata files
// must be byte for byte the same.
func TestLayerAcrossProcesses(t *testing.T) {
	bin := selfBinary(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "big.txt"), string(compressible(1, 9<<20)), 0o644)
	writeFile(t, filepath.Join(dir, "tree", "x", "y"), "y\n", 0o600)
	spec := filepath.Join(dir, "spec.json")
	writeJSON(t, spec, map[string]any{"createParentDirectories": true, "entries": []any{
		map[string]any{"type": "file", "path": "/data/big.txt", "source": "big.txt"},
		map[string]any{"type": "tree", "path": "/tree", "source": "tree"},
	}})
	runs := []struct {
		name  string
		umask int
		vars  []string
	}{
		{name: "UTC, 8 procs", umask: 0o022, vars: []string{"TZ=UTC", "GOMAXPROCS=8"}},
		{name: "Tokyo, 1 proc", umask: 0o077, vars: []string{"TZ=Asia/Tokyo", "GOMAXPROCS=1"}},
		{name: "Los Angeles, 2 procs", umask: 0o002, vars: []string{"TZ=America/Los_Angeles", "GOMAXPROCS=2"}},
	}
	for _, alg := range []string{"gzip", "zstd"} {
		t.Run(alg, func(t *testing.T) {
			var first, firstMeta []byte
			for _, run := range runs {
				out := filepath.Join(t.TempDir(), "layer")
				old := syscall.Umask(run.umask)
				r := runProcess(t, bin, run.vars, nil, "layer", "--spec", spec, "--compression", alg, "--output", out)
				syscall.Umask(old)
				r.check(t, 0)
				blob, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				meta, err := os.ReadFile(out + ".json")
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first, firstMeta = blob, meta
					if alg == "gzip" && len(blob) < 2<<20 {
						t.Errorf("gzip blob of %d bytes: want several 1 MiB blocks", len(blob))
					}
					continue
				}
				if !bytes.Equal(blob, first) {
					t.Errorf("%s: blob differs from %s's", run.name, runs[0].name)
				}
				if !bytes.Equal(meta, firstMeta) {
					t.Errorf("%s: metadata differs from %s's:\n%s\n%s", run.name, runs[0].name, meta, firstMeta)
				}
			}
		})
	}
}
