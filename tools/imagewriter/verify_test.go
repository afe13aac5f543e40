package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/verify/verifytest"
)

func runVerifyCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"verify"}, args...), env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }})
	return code, out.String(), errOut.String()
}

func TestVerifyGood(t *testing.T) {
	f := verifytest.New(t)
	for _, tc := range []struct {
		name string
		args []string
		ok   string // what follows "IMAGE: ok: DIGEST "
	}{
		{"index layout", []string{f.Index}, "(2 manifests, 2 layers, "},
		{"index layout by tag", []string{f.Index + ":v1"}, "(2 manifests, 2 layers, "},
		{"one platform", []string{"--platform", "linux/arm64", "oci:" + f.Index}, "(1 manifest, 2 layers, "},
		{"fast", []string{"--fast", f.Index}, "(2 manifests, 2 layers, "},
		{"image layout", []string{f.Image}, "(1 manifest, 2 layers, "},
		{"oci archive", []string{"oci-archive:" + f.OCIArchive}, "(1 manifest, 2 layers, "},
		{"docker archive", []string{"docker-archive:" + f.DockerArchive}, "(1 manifest, 2 layers, "},
		{"docker archive by RepoTag", []string{f.DockerArchive + ":" + verifytest.Tag}, "(1 manifest, 2 layers, "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runVerifyCmd(t, tc.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
			}
			arg := tc.args[len(tc.args)-1]
			if !strings.HasPrefix(out, arg+": ok: sha256:") || !strings.Contains(out, tc.ok) || strings.Count(out, "\n") != 1 {
				t.Errorf("stdout %q: want one line %q", out, arg+": ok: sha256:… "+tc.ok+"…")
			}
		})
	}
	t.Run("several", func(t *testing.T) {
		code, out, _ := runVerifyCmd(t, f.Image, f.OCIArchive, f.DockerArchive)
		if code != 0 || strings.Count(out, ": ok: ") != 3 {
			t.Errorf("exit %d, stdout:\n%s", code, out)
		}
	})
}

// TestVerifyBroken runs verify on each broken copy: exit 1, and exactly
// the case's problem, printed as IMAGE: WHERE: WHAT, then the count.
func TestVerifyBroken(t *testing.T) {
	f := verifytest.New(t)
	for _, tc := range verifytest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			l := verifytest.Copy(t, f.Index)
			want := tc.Break(l)
			code, out, errOut := runVerifyCmd(t, l.Dir)
			if code != exitFailure || errOut != "" {
				t.Errorf("exit %d, stderr %q: want exit 1 and nothing on stderr", code, errOut)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], l.Dir+": "+want.Where()+": ") || lines[1] != l.Dir+": 1 problem" {
				t.Errorf("stdout:\n%s\nwant:\n%s: %s: …\n%s: 1 problem", out, l.Dir, want.Where(), l.Dir)
			}
		})
	}
}

func TestVerifyJSON(t *testing.T) {
	f := verifytest.New(t)
	l := verifytest.Copy(t, f.Index)
	want := verifytest.Cases()[0].Break(l) // a layer's digest is wrong
	code, out, _ := runVerifyCmd(t, "--json", f.Image, l.Dir)
	if code != exitFailure {
		t.Errorf("exit %d, want 1", code)
	}
	var rep struct {
		OK     bool `json:"ok"`
		Images []struct {
			Image     string `json:"image"`
			OK        bool   `json:"ok"`
			Manifests int    `json:"manifests"`
			Problems  []struct {
				Where, Blob, Path, What string
			} `json:"problems"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if rep.OK || len(rep.Images) != 2 || !rep.Images[0].OK || rep.Images[1].OK || rep.Images[0].Manifests != 1 {
		t.Fatalf("report:\n%s", out)
	}
	got := rep.Images[1].Problems
	if len(got) != 1 || got[0].Where != want.Where() || got[0].Blob != want.Blob || got[0].What == "" {
		t.Errorf("problems %+v, want one at %s", got, want.Where())
	}
}

func TestVerifyUsageAndFailures(t *testing.T) {
	f := verifytest.New(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no image", nil, exitUsage, "requires at least 1 arg"},
		{"bad platform", []string{"--platform", "linux", f.Image}, exitUsage, "--platform"},
		{"unknown flag", []string{"--slow", f.Image}, exitUsage, "unknown flag"},
		{"no such path", []string{"oci:" + filepath.Join(t.TempDir(), "nothing")}, exitFailure, "no such file"},
		{"no such ref", []string{f.Index + ":v2"}, exitFailure, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runVerifyCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d, stderr %q, stdout %q: want exit %d and %q", code, errOut, out, tc.code, tc.stderr)
			}
		})
	}
}

// TestVerifyBuiltOutput checks what `imagewriter build` writes, in every
// form, through the CLI end to end.
func TestVerifyBuiltOutput(t *testing.T) {
	dir := t.TempDir()
	spec := verifytest.Spec()
	spec.Platforms = []string{"linux/amd64"}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, format := range []string{"oci", "oci-archive", "docker-archive"} {
		out := filepath.Join(dir, format)
		var so, se bytes.Buffer
		if code := run(context.Background(), []string{"build", "-f", specPath, "-o", out, "--format", format}, env{stdout: &so, stderr: &se, getenv: func(string) string { return "" }}); code != 0 {
			t.Fatalf("build --format %s: exit %d: %s", format, code, se.String())
		}
		outs = append(outs, out)
	}
	code, out, errOut := runVerifyCmd(t, outs...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	var digests []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		_, rest, _ := strings.Cut(line, ": ok: ")
		d, _, _ := strings.Cut(rest, " ")
		digests = append(digests, d)
	}
	// The three forms hold one manifest.
	if diff := cmp.Diff([]string{digests[0], digests[0], digests[0]}, digests); diff != "" {
		t.Errorf("roots (-want +got):\n%s", diff)
	}
}
