package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// regEnv is an env with the given variables and nothing else.
func regEnv(vars map[string]string) (env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return env{stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}, &out, &errb
}

func TestAuthFiles(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"nothing", nil, nil},
		{"home", map[string]string{"HOME": "/h"}, []string{"/h/.docker/config.json"}},
		{"docker config wins over home", map[string]string{"HOME": "/h", "DOCKER_CONFIG": "/d"}, []string{"/d/config.json"}},
		{"registry auth file first", map[string]string{"HOME": "/h", "REGISTRY_AUTH_FILE": "/a.json"}, []string{"/a.json", "/h/.docker/config.json"}},
		{"podman's default", map[string]string{"HOME": "/h", "XDG_RUNTIME_DIR": "/run/user/1"}, []string{"/run/user/1/containers/auth.json", "/h/.docker/config.json"}},
		{"auth file over podman's default", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1", "REGISTRY_AUTH_FILE": "/a.json", "DOCKER_CONFIG": "/d"}, []string{"/a.json", "/d/config.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := regEnv(tt.vars)
			if d := cmp.Diff(tt.want, authFiles(e)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseRegistryRef(t *testing.T) {
	tests := []struct {
		arg      string
		explicit bool
		want     string
		wantErr  string
	}{
		{arg: "127.0.0.1:5000/app:v1", want: "127.0.0.1:5000/app:v1"},
		{arg: "localhost/app", want: "localhost/app"},
		{arg: "docker://alpine:3", want: "docker.io/library/alpine:3"},
		{arg: "alpine:3", explicit: true, want: "docker.io/library/alpine:3"},
		{arg: "out/layout", wantErr: "not a registry reference"},
		{arg: "layout", wantErr: "not a registry reference"},
		{arg: "docker://Bad", wantErr: "path component"},
	}
	for _, tt := range tests {
		got, err := parseRegistryRef(tt.arg, tt.explicit)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseRegistryRef(%q) = %v, %v; want an error containing %q", tt.arg, got, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("parseRegistryRef(%q): %v", tt.arg, err)
		case got.String() != tt.want:
			t.Errorf("parseRegistryRef(%q) = %s, want %s", tt.arg, got, tt.want)
		}
	}
}

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	pr, err := newProgress(context.Background(), &buf, progressAuto, "pushed")
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("x"), Size: 12_345_678}
	for _, ev := range []registry.Event{
		{Kind: registry.EventStart, Desc: d},
		{Kind: registry.EventProgress, Desc: d, Bytes: 1 << 20},
		{Kind: registry.EventDone, Desc: d},
		{Kind: registry.EventExists, Desc: d},
		{Kind: registry.EventMounted, Desc: d, From: "library/base"},
		{Kind: registry.EventTag, Desc: d, Tag: "v1"},
	} {
		pr.event(ev)
	}
	pr.close()
	want := "pushed " + d.Digest.String() + " (12.3 MB)\n" +
		"exists " + d.Digest.String() + " (12.3 MB)\n" +
		"mounted " + d.Digest.String() + " (12.3 MB) from library/base\n" +
		"tagged v1 " + d.Digest.String() + "\n"
	if d := cmp.Diff(want, buf.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := newProgress(context.Background(), &buf, "fancy", "pushed"); err == nil {
		t.Error("--progress fancy accepted")
	}
}

// TestRegistryInProcess pushes and pulls through run(), then opens the
// pushed image by reference as verify, diff and unpack do.
func TestRegistryInProcess(t *testing.T) {
	reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello"), []byte("hello\n"), 0o644)
	spec := `{"platforms":["linux/amd64","linux/arm64"],"layers":[{"entries":[{"type":"file","path":"/hello","source":"hello"}]}]}`
	os.WriteFile(filepath.Join(dir, "spec.json"), []byte(spec), 0o644)
	layoutDir := filepath.Join(dir, "layout")
	e, out, errb := regEnv(map[string]string{"HOME": t.TempDir()})
	ctx := t.Context()
	if code := run(ctx, []string{"build", "-f", filepath.Join(dir, "spec.json"), "-o", layoutDir}, e); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, errb)
	}
	ref := reg.Host + "/inproc:v1"
	out.Reset()
	if code := run(ctx, []string{"push", layoutDir, ref, "--progress", "none"}, e); code != 0 {
		t.Fatalf("push: exit %d\n%s", code, errb)
	}
	pushed := strings.TrimSpace(out.String())
	if !strings.HasPrefix(pushed, ref+"@sha256:") {
		t.Fatalf("push stdout %q", pushed)
	}
	if errb.Len() != 0 {
		t.Errorf("--progress none, yet stderr says:\n%s", errb)
	}

	o, err := openImage(ctx, ref, e)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if want := strings.SplitN(pushed, "@", 2)[1]; o.Root.Digest.String() != want || o.Root.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("openImage(%s).Root = %s %s, want the pushed index %s", ref, o.Root.Digest, o.Root.MediaType, want)
	}
	if !strings.Contains(o.Name, "@sha256:") {
		t.Errorf("openImage Name %q does not pin the digest", o.Name)
	}
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	img, err := image.Resolve(ctx, o, o.Root, &arm)
	if err != nil {
		t.Fatalf("Resolve through the registry: %v", err)
	}
	if img.Platform.Architecture != "arm64" || len(img.Layers) != 1 {
		t.Errorf("resolved %+v", img.Platform)
	}
	if _, err := openImage(ctx, "no/such/path", e); err == nil || !strings.Contains(err.Error(), "not a registry reference") {
		t.Errorf("openImage of a missing relative path: %v", err)
	}

	out.Reset()
	errb.Reset()
	pulled := filepath.Join(dir, "pulled")
	if code := run(ctx, []string{"pull", ref, "-o", pulled, "--progress", "plain"}, e); code != 0 {
		t.Fatalf("pull: exit %d\n%s", code, errb)
	}
	if got := strings.TrimSpace(out.String()); got != strings.Replace(pushed, ":v1@", "@", 1) {
		t.Errorf("pull stdout %q, pushed %q", got, pushed)
	}
	if !strings.Contains(errb.String(), "resolved "+ref+" to ") || !strings.Contains(errb.String(), "pulled sha256:") {
		t.Errorf("pull stderr:\n%s", errb)
	}
}
