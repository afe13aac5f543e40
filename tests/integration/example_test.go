package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// helloSays is what the example binary prints on platform.
func helloSays(platform string) string {
	return "hello from rules_imagewriter on " + platform + "\n"
}

// fileOf is the TreeEntry of a file with the bytes of path.
func fileOf(t *testing.T, mode checkers.Mode, path string) checkers.TreeEntry {
	t.Helper()
	sum := sha256.Sum256(readFile(t, path))
	return checkers.TreeEntry{Type: checkers.TypeFile, Mode: mode, SHA256: "sha256:" + hex.EncodeToString(sum[:])}
}

// TestUmociUnpack unpacks each platform's image with umoci (which verifies
// every digest, size and diff_id and applies whiteouts) and compares the
// root file system with the tree base.json and image.json describe:
// /etc/motd, which the base adds, is whited out by the image.
func TestUmociUnpack(t *testing.T) {
	t.Parallel()
	ex := example(t)
	for _, p := range platforms {
		t.Run(strings.ReplaceAll(p, "/", "_"), func(t *testing.T) {
			t.Parallel()
			rootfs := checkers.UmociUnpack(t, ex.single[p], tag)
			want := map[string]checkers.TreeEntry{
				// base.json
				"bin":            checkers.Dir(0o755),
				"etc":            checkers.Dir(0o755),
				"etc/os-release": checkers.File(0o644, "NAME=\"Hello Base\"\nID=hello-base\nVERSION_ID=1\nPRETTY_NAME=\"Hello Base 1\"\n"),
				"etc/passwd":     checkers.File(0o644, "root:x:0:0:root:/root:/sbin/nologin\nhello:x:65532:65532:hello:/var/lib/hello:/sbin/nologin\n"),
				"etc/group":      checkers.File(0o644, "root:x:0:\nhello:x:65532:\n"),
				"tmp":            checkers.Dir(0o1777),
				"usr":            checkers.Dir(0o755),
				"usr/bin":        checkers.Dir(0o755),
				"var":            checkers.Dir(0o755),
				"var/lib":        checkers.Dir(0o755),
				// image.json, layer 0
				"usr/bin/hello": fileOf(t, 0o755, ex.hello(p)),
				// image.json, layer 1 (with its parent directories)
				"etc/hello":                      checkers.Dir(0o755),
				"etc/hello/greeting.txt":         checkers.File(0o644, "hello from rules_imagewriter\n"),
				"usr/share":                      checkers.Dir(0o755),
				"usr/share/doc":                  checkers.Dir(0o755),
				"usr/share/doc/hello":            checkers.Dir(0o755),
				"usr/share/doc/hello/README.txt": fileOf(t, 0o644, filepath.Join(repoRoot(t), "examples/hello/files/README.txt")),
				"usr/local":                      checkers.Dir(0o755),
				"usr/local/bin":                  checkers.Dir(0o755),
				"usr/local/bin/hello":            checkers.Symlink("../../bin/hello"),
				"var/lib/hello":                  checkers.Dir(0o750),
			}
			if d := checkers.DiffTrees(want, checkers.Tree(t, rootfs)); d != "" {
				t.Errorf("umoci rootfs of %s (-want +got):\n%s", p, d)
			}
		})
	}
}

// TestSinglePlatform checks that a --platform build of the spec is exactly
// that platform's image in the index, and that the archives hold that
// layout: the OCI archive is a tar of the layout directory, and the docker
// archive is the same tar plus manifest.json.
func TestSinglePlatform(t *testing.T) {
	t.Parallel()
	ex := example(t)
	multi := readGraph(t, ex.layout())
	for _, p := range platforms {
		single := readGraph(t, ex.single[p])
		if got, want := single.top.Digest, multi.manifests[p].Digest; got != want {
			t.Errorf("%s alone: manifest %s, the index's %s entry is %s", p, got, p, want)
		}
	}

	layout := readTreeBytes(t, ex.single["linux/amd64"])
	for _, tc := range []struct {
		archive string
		extra   []string
	}{
		{ex.ociTar(), nil},
		{ex.dockerTar(), []string{"manifest.json"}},
	} {
		got := map[string]fileEntry{}
		var names []string
		for _, m := range readTar(t, tc.archive) {
			name := strings.TrimSuffix(m.Header.Name, "/")
			names = append(names, name)
			if slices.Contains(tc.extra, name) {
				continue
			}
			e := fileEntry{Kind: "file", Mode: 0o644, Data: m.Data}
			if m.Header.Typeflag == '5' {
				e = fileEntry{Kind: "dir", Mode: layout["."].Mode}
			}
			got[name] = e
		}
		got["."] = layout["."]
		if d := diffFiles(layout, got); d != "" {
			t.Errorf("%s is not a tar of the linux/amd64 layout (-layout +archive):\n%s", filepath.Base(tc.archive), d)
		}
		if !slices.IsSorted(names) {
			t.Errorf("%s: members not sorted: %q", filepath.Base(tc.archive), names)
		}
	}

	var dm []struct{ Config, RepoTags, Layers any }
	for _, m := range readTar(t, ex.dockerTar()) {
		if m.Header.Name == "manifest.json" {
			decode(t, "manifest.json", m.Data, &dm)
		}
	}
	g := readGraph(t, ex.single["linux/amd64"])
	m := g.manifest["linux/amd64"]
	var layers []any
	for _, l := range m.Layers {
		layers = append(layers, "blobs/sha256/"+l.Digest.Encoded())
	}
	want := []struct{ Config, RepoTags, Layers any }{{
		Config:   "blobs/sha256/" + m.Config.Digest.Encoded(),
		RepoTags: []any{fullName},
		Layers:   layers,
	}}
	if d := cmp.Diff(want, dm); d != "" {
		t.Errorf("docker archive manifest.json (-want +got):\n%s", d)
	}
}

// TestExampleImage checks the config and manifests against what the specs
// ask for, with Dockerfile semantics over the base: env merged, labels
// merged, the inherited cmd reset by the new entrypoint.
func TestExampleImage(t *testing.T) {
	t.Parallel()
	ex := example(t)
	g := readGraph(t, ex.layout())
	base := readGraph(t, filepath.Join(ex.dir(), "build", "base"))
	if g.index == nil || len(g.index.Manifests) != 2 {
		t.Fatalf("the example's layout holds %s, want an index of 2 platforms", g.top.MediaType)
	}
	var order []string
	for _, m := range g.index.Manifests {
		if m.Platform == nil {
			t.Fatalf("index entry %s has no platform", m.Digest)
		}
		order = append(order, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if d := cmp.Diff(platforms, order); d != "" {
		t.Errorf("index order (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]string{"org.opencontainers.image.title": "hello"}, g.index.Annotations); d != "" {
		t.Errorf("index annotations (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]string{
		ocispec.AnnotationRefName:  tag,
		"io.containerd.image.name": fullName,
	}, g.top.Annotations); d != "" {
		t.Errorf("index.json annotations (-want +got):\n%s", d)
	}
	for _, p := range platforms {
		c, m := g.config[p], g.manifest[p]
		wantConfig := ocispec.ImageConfig{
			User:         "65532:65532",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "8125/udp": {}},
			Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HELLO_MODE=example"},
			Entrypoint:   []string{"/usr/bin/hello"},
			WorkingDir:   "/var/lib/hello",
			Labels: map[string]string{
				"org.opencontainers.image.vendor": "rules_imagewriter examples",
				"org.opencontainers.image.title":  "hello",
			},
		}
		if d := cmp.Diff(wantConfig, c.Config); d != "" {
			t.Errorf("%s config.config (-want +got):\n%s", p, d)
		}
		if c.Created == nil || c.Created.Unix() != 0 {
			t.Errorf("%s config.created = %v, want the Unix epoch", p, c.Created)
		}
		if n, h := len(c.RootFS.DiffIDs), len(c.History); n != 3 || h != 3 {
			t.Errorf("%s: %d diff_ids and %d history entries, want 3 and 3 (base, binary, files)", p, n, h)
		}
		var createdBy []string
		for _, h := range c.History {
			createdBy = append(createdBy, h.CreatedBy)
		}
		if d := cmp.Diff([]string{"base files", "hello binary", "hello files"}, createdBy); d != "" {
			t.Errorf("%s history created_by (-want +got):\n%s", p, d)
		}
		bm := base.manifest[p]
		if len(m.Layers) != 3 || m.Layers[0].Digest != bm.Layers[0].Digest {
			t.Errorf("%s layers %v: want the base's layer %s first, then two", p, m.Layers, bm.Layers[0].Digest)
		}
		wantAnn := map[string]string{
			"org.opencontainers.image.title":   "hello",
			"org.opencontainers.image.source":  "https://github.com/imagewriter/rules_imagewriter/tree/main/examples/hello",
			"org.opencontainers.image.version": "v1",
			ocispec.AnnotationBaseImageName:    "example.com/hello-base:v1",
			ocispec.AnnotationBaseImageDigest:  base.manifests[p].Digest.String(),
		}
		if d := cmp.Diff(wantAnn, m.Annotations); d != "" {
			t.Errorf("%s manifest annotations (-want +got):\n%s", p, d)
		}
	}
	// The binary layer differs per platform; the files layer is shared.
	a, b := g.manifest["linux/amd64"].Layers, g.manifest["linux/arm64"].Layers
	if a[1].Digest == b[1].Digest || a[2].Digest != b[2].Digest {
		t.Errorf("layers: amd64 %v, arm64 %v: want the binary layers to differ and the files layers equal", a, b)
	}
}

// TestSkopeo inspects the layout and both archives with skopeo, and copies
// the layout to an OCI archive, a docker archive and (all platforms,
// digests preserved) another layout, whose blobs must be ours.
func TestSkopeo(t *testing.T) {
	t.Parallel()
	ex := example(t)
	g := readGraph(t, ex.layout())
	src := "oci:" + ex.layout() + ":" + tag

	raw := checkers.Run(t, "", "skopeo", "inspect", "--raw", src)
	if want := readBlob(t, ex.layout(), g.top); raw != string(want) {
		t.Errorf("skopeo inspect --raw %s:\n%s\nwant our index:\n%s", src, raw, want)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		var info struct {
			Digest       digest.Digest
			Architecture string
			Os           string
			Layers       []digest.Digest
			Env          []string
		}
		decode(t, "skopeo inspect", []byte(checkers.Run(t, "", "skopeo", "--override-arch", arch, "inspect", src)), &info)
		p := "linux/" + arch
		if info.Os+"/"+info.Architecture != p || info.Digest != g.top.Digest || len(info.Layers) != 3 {
			t.Errorf("skopeo inspect --override-arch %s: %+v", arch, info)
		}
		for i, l := range g.manifest[p].Layers {
			if i < len(info.Layers) && info.Layers[i] != l.Digest {
				t.Errorf("skopeo inspect %s: layer %d is %s, want %s", p, i, info.Layers[i], l.Digest)
			}
		}
	}

	amd64Config := readBlob(t, ex.layout(), g.manifest["linux/amd64"].Config)
	for _, archive := range []string{"oci-archive:" + ex.ociTar(), "docker-archive:" + ex.dockerTar()} {
		got := checkers.Run(t, "", "skopeo", "inspect", "--config", "--raw", archive)
		if got != string(amd64Config) {
			t.Errorf("skopeo inspect --config --raw %s:\n%s\nwant our linux/amd64 config:\n%s", archive, got, amd64Config)
		}
	}

	dir := t.TempDir()
	checkers.Run(t, "", "skopeo", "copy", "-q", src, "oci-archive:"+filepath.Join(dir, "copy.oci.tar"))
	checkers.Run(t, "", "skopeo", "copy", "-q", src, "docker-archive:"+filepath.Join(dir, "copy.docker.tar")+":"+fullName)
	copied := filepath.Join(dir, "copy")
	checkers.Run(t, "", "skopeo", "copy", "-q", "--all", "--preserve-digests", src, "oci:"+copied+":"+tag)
	if d := diffFiles(readTreeBytes(t, filepath.Join(ex.layout(), "blobs")), readTreeBytes(t, filepath.Join(copied, "blobs"))); d != "" {
		t.Errorf("skopeo copy --all --preserve-digests changed the blobs (-ours +copy):\n%s", d)
	}
}

// TestCraneValidate runs crane validate on the docker archive: crane reads
// manifest.json, checks every layer's digest and diff_id, and the config.
func TestCraneValidate(t *testing.T) {
	t.Parallel()
	ex := example(t)
	out := checkers.Run(t, "", "crane", "validate", "--tarball", ex.dockerTar())
	if !strings.HasPrefix(out, "PASS") {
		t.Errorf("crane validate --tarball: %s", out)
	}
}

// TestRegctl reads the index and both manifests back with regctl, by digest
// and by tag, and requires our exact bytes.
func TestRegctl(t *testing.T) {
	t.Parallel()
	ex := example(t)
	g := readGraph(t, ex.layout())
	ref := "ocidir://" + ex.layout()
	want := map[string]ocispec.Descriptor{ref + ":" + tag: g.top, ref + "@" + g.top.Digest.String(): g.top}
	for _, p := range platforms {
		want[ref+"@"+g.manifests[p].Digest.String()] = g.manifests[p]
	}
	for r, d := range want {
		cmd := checkers.Command(t, "regctl", "manifest", "get", "--format", "raw-body", r)
		cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir())
		got := checkers.RunCmd(t, cmd)
		if b := readBlob(t, ex.layout(), d); got != string(b) {
			t.Errorf("regctl manifest get %s:\n%s\nwant our bytes:\n%s", r, got, b)
		}
	}
}

// TestPodman loads the docker archive with podman load (under the name it
// carries) and runs it; the OCI archive must give the same image.
func TestPodman(t *testing.T) {
	t.Parallel()
	ex := example(t)
	config := readGraph(t, ex.layout()).manifest["linux/amd64"].Config.Digest
	p := checkers.NewPodman(t)
	id := p.Load("docker-archive:" + ex.dockerTar())
	if id != config.Encoded() {
		t.Errorf("podman load: image ID %s, want the config digest %s", id, config.Encoded())
	}
	if got := p.Inspect(id, "{{.RepoTags}}"); got != "["+fullName+"]" {
		t.Errorf("podman load: names %s, want [%s]", got, fullName)
	}
	if got := p.Run(fullName); got != helloSays("linux/amd64") {
		t.Errorf("podman run %s: %q, want %q", fullName, got, helloSays("linux/amd64"))
	}
	var cfg struct {
		User, WorkingDir string
		Entrypoint, Env  []string
	}
	decode(t, "podman inspect", []byte(p.Inspect(id, "{{json .Config}}")), &cfg)
	if cfg.User != "65532:65532" || cfg.WorkingDir != "/var/lib/hello" || !slices.Equal(cfg.Entrypoint, []string{"/usr/bin/hello"}) || !slices.Contains(cfg.Env, "HELLO_MODE=example") {
		t.Errorf("podman inspect config: %+v", cfg)
	}
	// The symlink resolves, as the user the image names.
	p.RunFlags = []string{"--entrypoint", "/usr/local/bin/hello"}
	if got := p.Run(id); got != helloSays("linux/amd64") {
		t.Errorf("podman run --entrypoint /usr/local/bin/hello: %q", got)
	}
	if id2 := p.Load("oci-archive:" + ex.ociTar()); id2 != id {
		t.Errorf("podman: the OCI archive loads as %s, the docker archive as %s", id2, id)
	}
}

// TestScriptOutput checks that make example prints the digests it made.
func TestScriptOutput(t *testing.T) {
	t.Parallel()
	ex := example(t)
	g := readGraph(t, ex.layout())
	var want []string
	want = append(want, g.top.Digest.String())
	for _, p := range platforms {
		want = append(want, g.manifests[p].Digest.String())
	}
	for _, f := range []string{ex.ociTar(), ex.dockerTar()} {
		want = append(want, digest.FromBytes(readFile(t, f)).String())
	}
	for _, w := range want {
		if !strings.Contains(ex.scriptOutput, w) {
			t.Errorf("scripts/example.sh output does not mention %s:\n%s", w, ex.scriptOutput)
		}
	}
	if !strings.Contains(ex.scriptOutput, "podman run") {
		t.Errorf("scripts/example.sh does not say how to run the image:\n%s", ex.scriptOutput)
	}
}

// TestBaseForms builds the example's linux/amd64 image on its base read
// from each form imagewriter accepts: the layout, an OCI archive and a
// docker archive written by imagewriter give exactly the same image; a
// legacy docker archive (skopeo writes one: manifest.json only, layers
// uncompressed) gives the same root file system under other layer blobs.
func TestBaseForms(t *testing.T) {
	t.Parallel()
	ex := example(t)
	dir := t.TempDir()
	hello := filepath.Join(dir, "hello")
	copyDir(t, ex.dir(), hello)
	layoutBase := filepath.Join(hello, "build", "base")
	want := readGraph(t, ex.layout())

	forms := map[string][2]string{ // name: path, ref
		"oci-archive":           {filepath.Join(dir, "base.oci.tar"), "v1"},
		"docker-archive":        {filepath.Join(dir, "base.docker.tar"), "v1"},
		"legacy-docker-archive": {filepath.Join(dir, "base.legacy.tar"), "example.com/hello-base:v1"},
	}
	mustIW(t, dir, "build", "-f", filepath.Join(hello, "base.json"), "-o", forms["oci-archive"][0], "--format", "oci-archive")
	mustIW(t, dir, "build", "-f", filepath.Join(hello, "base.json"), "-o", forms["docker-archive"][0], "--format", "docker-archive", "--platform", "linux/amd64")
	checkers.Run(t, "", "skopeo", "--override-arch", "amd64", "copy", "-q", "oci:"+layoutBase+":v1", "docker-archive:"+forms["legacy-docker-archive"][0]+":example.com/hello-base:v1")

	var spec map[string]any
	decode(t, "image.json", readFile(t, filepath.Join(hello, "image.json")), &spec)
	for name, f := range forms {
		t.Run(name, func(t *testing.T) {
			s := maps.Clone(spec)
			s["base"] = map[string]any{"path": f[0], "ref": f[1], "name": "example.com/hello-base:v1"}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			specPath := filepath.Join(hello, name+".json")
			if err := os.WriteFile(specPath, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out-"+name)
			mustIW(t, dir, "build", "-f", specPath, "-o", out, "--platform", "linux/amd64")
			got := readGraph(t, out)
			if name != "legacy-docker-archive" {
				if got.top.Digest != want.manifests["linux/amd64"].Digest {
					t.Errorf("on the base as %s: manifest %s, want %s (the same image as on the layout)", name, got.top.Digest, want.manifests["linux/amd64"].Digest)
				}
				return
			}
			if d := cmp.Diff(want.config["linux/amd64"].RootFS, got.config["linux/amd64"].RootFS); d != "" {
				t.Errorf("on the base as %s: rootfs (-layout base +this base):\n%s", name, d)
			}
			if d := checkers.DiffTrees(checkers.Tree(t, checkers.UmociUnpack(t, ex.single["linux/amd64"], tag)), checkers.Tree(t, checkers.UmociUnpack(t, out, tag))); d != "" {
				t.Errorf("on the base as %s: rootfs differs (-layout base +this base):\n%s", name, d)
			}
		})
	}
}
