package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

const unpackSpec = `{
  "layers": [
    {"entries": [
      {"type": "dir", "path": "etc"},
      {"type": "file", "path": "etc/passwd", "content": "root:x:0:0\n", "uid": 0, "gid": 0},
      {"type": "file", "path": "etc/shadow", "content": "root:!:\n", "mode": "0640", "gid": 42, "gname": "shadow"},
      {"type": "dir", "path": "var/cache", "mode": "0755"},
      {"type": "file", "path": "var/cache/a", "content": "a"},
      {"type": "file", "path": "var/cache/b", "content": "b"},
      {"type": "symlink", "path": "bin", "target": "usr/bin"},
      {"type": "dir", "path": "usr/bin"},
      {"type": "file", "path": "usr/bin/tool", "content": "#!/bin/sh\n", "mode": "0755", "mtime": "2020-01-01T00:00:00Z"},
      {"type": "hardlink", "path": "usr/bin/tool2", "target": "usr/bin/tool"}
    ]},
    {"entries": [
      {"type": "opaque", "path": "var/cache"},
      {"type": "file", "path": "var/cache/new", "content": "n"},
      {"type": "whiteout", "path": "etc/shadow"},
      {"type": "file", "path": "bin/added", "content": "through the symlink", "mode": "0700"}
    ]}
  ]
}`

func TestUnpackCommand(t *testing.T) {
	img := specImage(t, unpackSpec)
	dir := filepath.Join(t.TempDir(), "rootfs")
	rec := filepath.Join(t.TempDir(), "record.json")
	r := runCLI(t, nil, "unpack", "--metadata", rec, img, dir)
	r.check(t, 0)
	if !strings.Contains(r.stdout, "from 2 layers") {
		t.Errorf("stdout: %q", r.stdout)
	}
	want := checkers.Tree(t, checkers.UmociUnpack(t, img, "test"))
	if d := checkers.DiffTrees(want, checkers.Tree(t, dir)); d != "" {
		t.Errorf("unpack vs umoci (-umoci +ours):\n%s", d)
	}
	var got struct {
		Version int `json:"version"`
		Paths   []struct {
			Path, Type, Mode, Mtime string
			UID, GID                int
		} `json:"paths"`
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var tool string
	for _, p := range got.Paths {
		if p.Path == "usr/bin/tool" {
			tool = p.Type + " " + p.Mode + " " + p.Mtime
		}
		if p.Path == "etc/shadow" {
			t.Errorf("the record lists etc/shadow, which the second layer removed")
		}
	}
	if tool != "file 0755 2020-01-01T00:00:00Z" {
		t.Errorf("record of usr/bin/tool: %q", tool)
	}

	// DIR must be new or empty.
	runCLI(t, nil, "unpack", img, dir).check(t, 2, "not empty")
	runCLI(t, nil, "unpack", img).check(t, 2)
}

// hostileLayout writes a one-layer image whose layer holds entries as
// given, with no checks.
func hostileLayout(t *testing.T, hs ...tar.Header) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		h.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	l := layout.New()
	lb := image.BlobOf(ocispec.MediaTypeImageLayer, buf.Bytes())
	l.AddBlob(lb)
	cf, config, err := image.NewConfig(image.ConfigOptions{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []image.LayerHistory{{DiffID: digest.FromBytes(buf.Bytes())}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := image.NewManifest(config, []ocispec.Descriptor{lb.Descriptor}, image.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.AddImage(image.Image{Manifest: m, Config: config, ConfigFile: cf})
	l.Tag(m.Descriptor, "")
	dst := filepath.Join(t.TempDir(), "layout")
	if err := layout.WriteDir(context.Background(), dst, l); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestUnpackHostile: a hostile image is an error naming the entry, and
// nothing lands outside DIR.
func TestUnpackHostile(t *testing.T) {
	for _, tc := range []struct {
		name string
		hs   []tar.Header
		want string
	}{
		{"dotdot", []tar.Header{{Typeflag: tar.TypeReg, Name: "../evil", Size: 1, Mode: 0o644}}, "../evil"},
		{"hard link out", []tar.Header{{Typeflag: tar.TypeLink, Name: "h", Linkname: "/etc/shadow"}}, "h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			dir := filepath.Join(top, "rootfs")
			runCLI(t, nil, "unpack", hostileLayout(t, tc.hs...), dir).check(t, 1, tc.want, "unsafe path")
			if entries, _ := os.ReadDir(top); len(entries) != 1 {
				t.Errorf("outside DIR: %v", entries)
			}
		})
	}
}

func TestFlattenCommand(t *testing.T) {
	img := specImage(t, unpackSpec)
	dir := t.TempDir()
	out1, out2 := filepath.Join(dir, "one.tar"), filepath.Join(dir, "two.tar")
	r := runCLI(t, nil, "flatten", img, "-o", out1)
	r.check(t, 0)
	runCLI(t, nil, "flatten", img, "-o", out2, "--metadata", out2+".json").check(t, 0)
	b1, _ := os.ReadFile(out1)
	b2, _ := os.ReadFile(out2)
	if !bytes.Equal(b1, b2) || len(b1) == 0 {
		t.Fatalf("two flattens differ (%d and %d bytes)", len(b1), len(b2))
	}
	if _, err := os.Stat(out2 + ".json"); err != nil {
		t.Errorf("--metadata: %v", err)
	}
	// The flattened layer, as the only layer of an image, unpacks to the
	// same tree as the image.
	flatSpec := filepath.Join(dir, "flat.json")
	os.WriteFile(flatSpec, []byte(`{"layers": [{"entries": [{"type": "tar", "source": "one.tar", "preserveMtime": true, "preserveNames": true}]}]}`), 0o644)
	flatImg := filepath.Join(dir, "flat")
	runCLI(t, nil, "build", "-f", flatSpec, "-o", flatImg, "--tag", "x:test").check(t, 0)
	want := checkers.Tree(t, checkers.UmociUnpack(t, img, "test"))
	if d := checkers.DiffTrees(want, checkers.Tree(t, checkers.UmociUnpack(t, flatImg, "test"))); d != "" {
		t.Errorf("flattened vs layered (-layered +flat):\n%s", d)
	}
	// Whiteouts are applied, hard links kept, owners from the headers.
	listing := tarListing(t, b1)
	for _, want := range []string{"usr/bin/tool2 link usr/bin/tool", "var/cache/new file", "bin/added file"} {
		if !strings.Contains(listing, want) {
			t.Errorf("flattened layer lacks %q:\n%s", want, listing)
		}
	}
	for _, gone := range []string{"etc/shadow", "var/cache/a", ".wh."} {
		if strings.Contains(listing, gone) {
			t.Errorf("flattened layer holds %q:\n%s", gone, listing)
		}
	}
	// Compression on request.
	runCLI(t, nil, "flatten", img, "-o", filepath.Join(dir, "z.tar.zst"), "--compression", "zstd").check(t, 0)
	runCLI(t, nil, "flatten", img).check(t, 2, "-o")
}

func tarListing(t *testing.T, b []byte) string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var lines []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		kind := map[byte]string{tar.TypeReg: "file", tar.TypeDir: "dir", tar.TypeSymlink: "symlink", tar.TypeLink: "link"}[h.Typeflag]
		lines = append(lines, strings.TrimSpace(h.Name+" "+kind+" "+h.Linkname))
	}
	return strings.Join(lines, "\n")
}

// TestLayerFromDiff: the changeset between two trees, applied on the
// lower one with `imagewriter unpack` and with umoci, gives the upper one.
func TestLayerFromDiff(t *testing.T) {
	dir := t.TempDir()
	lower, upper := filepath.Join(dir, "lower"), filepath.Join(dir, "upper")
	for p, c := range map[string]string{"etc/a": "a", "etc/b": "b", "var/cache/x": "x", "var/cache/y": "y", "opt/keep": "k"} {
		for _, root := range []string{lower, upper} {
			os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
			os.WriteFile(filepath.Join(root, p), []byte(c), 0o644)
		}
	}
	os.WriteFile(filepath.Join(upper, "etc/a"), []byte("changed"), 0o600)
	os.Remove(filepath.Join(upper, "etc/b"))
	os.RemoveAll(filepath.Join(upper, "var/cache"))
	os.MkdirAll(filepath.Join(upper, "var/cache"), 0o755)
	os.WriteFile(filepath.Join(upper, "var/cache/z"), []byte("z"), 0o644)
	os.Symlink("../etc/a", filepath.Join(upper, "opt/link"))

	base, changes := filepath.Join(dir, "base.tar.gz"), filepath.Join(dir, "changes.tar.gz")
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	runCLI(t, nil, "layer", "--from-diff", empty, lower, "--output", base).check(t, 0)
	r := runCLI(t, nil, "layer", "--from-diff", lower, upper, "--output", changes)
	r.check(t, 0)
	if !strings.Contains(r.stdout, "entries=5") { // etc/a, .wh.b, opaque var/cache, var/cache/z, opt/link
		t.Errorf("stdout: %s", r.stdout)
	}
	// An image of the two layers.
	spec := filepath.Join(dir, "image.json")
	os.WriteFile(spec, []byte(`{"layers": [{"entries": [{"type": "tar", "source": "base.tar.gz", "preserveMtime": true}]},
		{"entries": [{"type": "tar", "source": "changes.tar.gz", "preserveMtime": true}]}]}`), 0o644)
	img := filepath.Join(dir, "layout")
	runCLI(t, nil, "build", "-f", spec, "-o", img, "--tag", "x:test").check(t, 0)
	want := checkers.Tree(t, upper)
	rootfs := filepath.Join(dir, "rootfs")
	runCLI(t, nil, "unpack", img, rootfs).check(t, 0)
	if d := checkers.DiffTrees(want, checkers.Tree(t, rootfs)); d != "" {
		t.Errorf("imagewriter unpack (-upper +got):\n%s", d)
	}
	if d := checkers.DiffTrees(want, checkers.Tree(t, checkers.UmociUnpack(t, img, "test"))); d != "" {
		t.Errorf("umoci unpack (-upper +got):\n%s", d)
	}
	runCLI(t, nil, "layer", "--from-diff", lower, "--output", changes).check(t, 2, "two directories")
	runCLI(t, nil, "layer", "--from-diff", lower, upper, "--spec", spec, "--output", changes).check(t, 2, "give one")
	runCLI(t, nil, "layer", "--spec", spec, "--preserve-mtime", "--output", changes).check(t, 2, "--from-diff")
}
