package registry_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// TestPushPullRoundTrip pushes a single image and a two-platform index,
// pulls both back and compares every byte; crane and skopeo check the
// registry's view.
func TestPushPullRoundTrip(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	single := buildLayout(t, imageSpec{files: []fileSpec{{"/app/data", 200 << 10, 1}, {"/etc/conf", 3000, 2}}})
	multi := buildLayout(t, imageSpec{platforms: []string{"linux/arm64", "linux/amd64"}, files: []fileSpec{{"/app/data", 100 << 10, 3}}})

	for _, tc := range []struct {
		name, layout, repo string
		platforms          []string
	}{
		{"single", single, "single", nil},
		{"index", multi, "multi", []string{"linux/amd64", "linux/arm64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := reg.Host + "/" + tc.repo + ":v1"
			want := rootDigest(t, tc.layout)
			r := mustIW(t, nil, "push", tc.layout, ref, "--tag", "latest")
			wantOut := ref + "@" + want + "\n" + reg.Host + "/" + tc.repo + ":latest@" + want + "\n"
			if r.stdout != wantOut {
				t.Errorf("push stdout = %q, want %q", r.stdout, wantOut)
			}
			if !strings.Contains(r.stderr, "pushed sha256:") || !strings.Contains(r.stderr, "tagged v1") {
				t.Errorf("push stderr lacks per-blob lines:\n%s", r.stderr)
			}

			out := filepath.Join(t.TempDir(), "pulled")
			p := mustIW(t, nil, "pull", ref, "-o", out)
			if got := strings.TrimSpace(p.stdout); got != reg.Host+"/"+tc.repo+"@"+want {
				t.Errorf("pull stdout = %q, want %s@%s", got, reg.Host+"/"+tc.repo, want)
			}
			if !strings.Contains(p.stderr, "resolved "+ref+" to "+want) {
				t.Errorf("pull stderr does not say how the tag resolved:\n%s", p.stderr)
			}
			if got := rootDigest(t, out); got != want {
				t.Errorf("pulled root %s, pushed %s", got, want)
			}
			if d := cmp.Diff(blobFiles(t, tc.layout), blobFiles(t, out)); d != "" {
				t.Errorf("pulled blobs differ from the pushed layout (-pushed +pulled):\n%s", d)
			}
			if idx := readIndex(t, filepath.Join(out, "index.json")); idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1" {
				t.Errorf("pulled index.json names the image %v, want ref.name v1", idx.Manifests[0].Annotations)
			}

			checkers.Run(t, "", "crane", "validate", "--remote", ref, "--insecure")
			raw := checkers.Run(t, "", "skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+ref)
			if tc.platforms == nil {
				var m struct{ MediaType string }
				json.Unmarshal([]byte(raw), &m)
				if m.MediaType != "application/vnd.oci.image.manifest.v1+json" {
					t.Errorf("skopeo --raw mediaType %q, want an OCI manifest", m.MediaType)
				}
				return
			}
			var idx ociIndex
			if err := json.Unmarshal([]byte(raw), &idx); err != nil {
				t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
			}
			var plats []string
			for _, m := range idx.Manifests {
				plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture)
			}
			if d := cmp.Diff(tc.platforms, plats); d != "" {
				t.Errorf("index platforms (-want +got):\n%s", d)
			}
			for _, pl := range tc.platforms {
				os, arch, _ := strings.Cut(pl, "/")
				info := checkers.Run(t, "", "skopeo", "inspect", "--tls-verify=false", "--override-os", os, "--override-arch", arch, "docker://"+ref)
				var ii struct{ Os, Architecture string }
				if err := json.Unmarshal([]byte(info), &ii); err != nil {
					t.Fatalf("skopeo inspect: %v", err)
				}
				if ii.Os != os || ii.Architecture != arch {
					t.Errorf("skopeo inspect %s: %s/%s", pl, ii.Os, ii.Architecture)
				}
			}

			// One platform out of the index.
			arm := filepath.Join(t.TempDir(), "arm")
			mustIW(t, nil, "pull", ref, "-o", arm, "--platform", "linux/arm64")
			ai := readIndex(t, filepath.Join(arm, "index.json"))
			if len(ai.Manifests) != 1 || ai.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" || ai.Manifests[0].Platform == nil || ai.Manifests[0].Platform.Architecture != "arm64" {
				t.Errorf("--platform linux/arm64 index.json: %+v", ai)
			}
		})
	}
}

// TestPushTwiceUploadsNothing: the second push of the same image finds every
// blob (HEAD) and uploads none; by digest, then by metadata files.
func TestPushTwiceUploadsNothing(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	l := buildLayout(t, imageSpec{platforms: []string{"linux/amd64", "linux/arm64"}, files: []fileSpec{{"/a", 64 << 10, 5}, {"/b", 1000, 6}}})
	ref := reg.Host + "/twice:v1"
	mustIW(t, nil, "push", l, ref)
	first := reg.BlobUploads(t)
	if first != 4 { // two layers, two configs
		t.Errorf("first push uploaded %d blobs, want 4", first)
	}
	r := mustIW(t, nil, "push", l, ref, "--tag", "v2")
	if n := reg.BlobUploads(t) - first; n != 0 {
		t.Errorf("second push uploaded %d blobs, want 0\n%s", n, r.stderr)
	}
	if strings.Contains(r.stderr, "pushed sha256") || !strings.Contains(r.stderr, "exists sha256") {
		t.Errorf("second push stderr should report every blob as existing:\n%s", r.stderr)
	}
	if s := manifestStatus(t, reg.Host, "twice", "v2"); s != 200 {
		t.Errorf("HEAD twice:v2 = %d, want 200", s)
	}
	// Pushing by digest: REF@digest must be the image's.
	want := rootDigest(t, l)
	r = mustIW(t, nil, "push", l, reg.Host+"/twice@"+want)
	if strings.TrimSpace(r.stdout) != reg.Host+"/twice@"+want {
		t.Errorf("push by digest stdout = %q", r.stdout)
	}
	bad := iw(t, nil, "push", l, reg.Host+"/twice@sha256:"+strings.Repeat("0", 64))
	if bad.code != 1 || !strings.Contains(bad.stderr, "but the image is "+want) {
		t.Errorf("push to another digest: %s", bad)
	}
}

// TestPushFromMetadata is what Bazel's image_push runs: image metadata plus
// layer blobs, no layout.
func TestPushFromMetadata(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	dir := t.TempDir()
	src := filepath.Join(dir, "data")
	randomFile(t, src, 50<<10, 9)
	spec := filepath.Join(dir, "layer.json")
	os.WriteFile(spec, []byte(`{"entries":[{"type":"file","path":"/data","source":"`+src+`"}]}`), 0o644)
	blob := filepath.Join(dir, "layer.tar.gz")
	mustIW(t, nil, "layer", "--spec", spec, "-o", blob)
	req := filepath.Join(dir, "req.json")
	os.WriteFile(req, []byte(`{"platform":"linux/amd64"}`), 0o644)
	var metas []string
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		os.WriteFile(req, []byte(`{"platform":"`+p+`"}`), 0o644)
		meta := filepath.Join(dir, strings.ReplaceAll(p, "/", "-")+".json")
		mustIW(t, nil, "image", "--request", req, "--layer", blob+".json", "-o", meta)
		metas = append(metas, meta)
	}
	index := filepath.Join(dir, "index.json")
	mustIW(t, nil, "index", "--image", metas[0], "--image", metas[1], "-o", index)

	r := mustIW(t, nil, "push", "--index", index, "--layer", blob+".json="+blob, reg.Host+"/meta:v1", "--tag", "v1.0")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], reg.Host+"/meta:v1@sha256:") || !strings.HasPrefix(lines[1], reg.Host+"/meta:v1.0@sha256:") {
		t.Errorf("push stdout = %q", r.stdout)
	}
	checkers.Run(t, "", "crane", "validate", "--remote", reg.Host+"/meta:v1", "--insecure")
	out := filepath.Join(dir, "out")
	mustIW(t, nil, "output", "--index", index, "--layer", blob+".json="+blob, "-o", out)
	pulled := filepath.Join(dir, "pulled")
	mustIW(t, nil, "pull", reg.Host+"/meta:v1", "-o", pulled)
	if d := cmp.Diff(blobFiles(t, out), blobFiles(t, pulled)); d != "" {
		t.Errorf("pushed from metadata vs written by output (-output +pulled):\n%s", d)
	}
	// Usage errors exit 2.
	for _, args := range [][]string{
		{"push", "--image", metas[0], "--index", index, reg.Host + "/meta:x"},
		{"push", "--image", metas[0], out, reg.Host + "/meta:x"},
		{"push", out},
		{"push", out, reg.Host + "/Meta:x"},
		{"push", out, reg.Host + "/meta:x", "--tag", "-bad"},
		{"pull", reg.Host + "/meta:v1"},
	} {
		if r := iw(t, nil, args...); r.code != 2 {
			t.Errorf("imagewriter %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r)
		}
	}
}

// TestShallowBase: a shallow pull of a base downloads no layer; an image
// built on it and pushed to another repository of the same registry mounts
// the base layers (never uploading or downloading them); an output that
// must hold them fetches them then.
func TestShallowBase(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	base := buildLayout(t, imageSpec{files: []fileSpec{{"/base/one", 300 << 10, 11}, {"/base/two", 200 << 10, 12}}})
	mustIW(t, nil, "push", base, reg.Host+"/library/base:1")
	baseLayers := layerDigests(t, base)
	if len(baseLayers) != 2 {
		t.Fatalf("base has %d layers", len(baseLayers))
	}

	dir := t.TempDir()
	shallow := filepath.Join(dir, "base")
	r := mustIW(t, nil, "pull", "--shallow", reg.Host+"/library/base:1", "-o", shallow)
	if !strings.Contains(r.stderr, "left in the registry") {
		t.Errorf("shallow pull stderr:\n%s", r.stderr)
	}
	for _, l := range baseLayers {
		if n := blobGETs(t, reg, l); n != 0 {
			t.Errorf("shallow pull downloaded base layer %s %d times", l, n)
		}
		if _, err := os.Stat(filepath.Join(shallow, "blobs", "sha256", strings.TrimPrefix(l, "sha256:"))); err == nil {
			t.Errorf("shallow layout holds layer %s", l)
		}
	}
	var rec struct {
		Blobs map[string][]struct{ Registry, Repository string }
	}
	b, err := os.ReadFile(filepath.Join(shallow, "imagewriter-sources.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &rec)
	for _, l := range baseLayers {
		if locs := rec.Blobs[l]; len(locs) != 1 || locs[0].Registry != reg.Host || locs[0].Repository != "library/base" {
			t.Errorf("sources record for %s: %+v", l, locs)
		}
	}

	// The Bazel way: layer, image on the shallow base, push from metadata.
	src := filepath.Join(dir, "app")
	randomFile(t, src, 40<<10, 13)
	spec := filepath.Join(dir, "layer.json")
	os.WriteFile(spec, []byte(`{"entries":[{"type":"file","path":"/app","source":"`+src+`"}]}`), 0o644)
	blob := filepath.Join(dir, "app.tar.gz")
	mustIW(t, nil, "layer", "--spec", spec, "-o", blob)
	req := filepath.Join(dir, "req.json")
	os.WriteFile(req, []byte(`{"platform":"linux/amd64","baseName":"`+reg.Host+`/library/base:1"}`), 0o644)
	meta := filepath.Join(dir, "image.json")
	mustIW(t, nil, "image", "--request", req, "--layer", blob+".json", "--base-layout", shallow, "-o", meta)
	before := reg.BlobMounts(t)
	r = mustIW(t, nil, "push", "--image", meta, "--layer", blob+".json="+blob, "--base-layout", shallow, reg.Host+"/team/app:v1")
	if n := reg.BlobMounts(t) - before; n != len(baseLayers) {
		t.Errorf("push mounted %d blobs, want the %d base layers\n%s", n, len(baseLayers), r.stderr)
	}
	for _, l := range baseLayers {
		if n := uploadsOf(t, reg, l); n != 1 { // the base's own push only
			t.Errorf("base layer %s uploaded %d times, want 1 (the base push)", l, n)
		}
		if n := blobGETs(t, reg, l); n != 0 {
			t.Errorf("base layer %s downloaded %d times, want 0", l, n)
		}
		if !strings.Contains(r.stderr, "mounted "+l) {
			t.Errorf("push stderr does not report mounting %s:\n%s", l, r.stderr)
		}
	}

	// The same from a shallow layout pushed as SRC to a third repository.
	before = reg.BlobMounts(t)
	mustIW(t, nil, "push", shallow, reg.Host+"/mirror/base:1")
	if n := reg.BlobMounts(t) - before; n != len(baseLayers) {
		t.Errorf("push of the shallow layout mounted %d blobs, want %d", n, len(baseLayers))
	}
	for _, l := range baseLayers {
		if n := blobGETs(t, reg, l); n != 0 {
			t.Errorf("base layer %s downloaded %d times before any output needed it", l, n)
		}
	}

	// An output must hold the layers: it fetches them from the registry.
	out := filepath.Join(dir, "out")
	mustIW(t, nil, "output", "--image", meta, "--layer", blob+".json="+blob, "--base-layout", shallow, "-o", out)
	for _, l := range baseLayers {
		if _, err := os.Stat(filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(l, "sha256:"))); err != nil {
			t.Errorf("output lacks base layer %s: %v", l, err)
		}
		if n := blobGETs(t, reg, l); n != 1 {
			t.Errorf("output downloaded base layer %s %d times, want 1", l, n)
		}
	}
	// So does `build` with the shallow base in its spec.
	built := buildLayout(t, imageSpec{base: shallow, files: []fileSpec{{"/more", 1000, 14}}})
	if got := layerDigests(t, built); !slices.Contains(got, baseLayers[0]) || !slices.Contains(got, baseLayers[1]) {
		t.Errorf("build on the shallow base: layers %v lack the base's %v", got, baseLayers)
	}
	checkers.Run(t, "", "crane", "validate", "--remote", reg.Host+"/team/app:v1", "--insecure")
}

// TestStreamingMemory: push and pull stream blobs; a 256 MiB layer must not
// make either hold more than a fraction of it (the bound is 100 MiB
// for 1 GiB; bench/push.sh measures that size).
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB twice")
	}
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	l := buildLayout(t, imageSpec{compression: "none", files: []fileSpec{{"/big", 256 << 20, 81}}})
	const limit = 100 << 20
	r := mustIW(t, nil, "push", l, reg.Host+"/big:v1", "--progress", "plain")
	pushRSS := r.maxRSS
	if r.maxRSS == 0 || r.maxRSS > limit {
		t.Errorf("push of a 256 MiB layer: peak RSS %d MiB, want under %d MiB", r.maxRSS>>20, limit>>20)
	}
	out := filepath.Join(t.TempDir(), "pulled")
	r = mustIW(t, nil, "pull", reg.Host+"/big:v1", "-o", out, "--progress", "plain")
	if r.maxRSS == 0 || r.maxRSS > limit {
		t.Errorf("pull of a 256 MiB layer: peak RSS %d MiB, want under %d MiB", r.maxRSS>>20, limit>>20)
	}
	t.Logf("peak RSS with a 256 MiB layer: push %d MiB, pull %d MiB", pushRSS>>20, r.maxRSS>>20)
}
