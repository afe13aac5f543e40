package checkers_test

import (
	"archive/tar"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// helloProgram is a static program for the test image.
const helloProgram = `package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Println("hello", strings.Join(os.Args[1:], " "))
	if len(os.Args) > 1 && os.Args[1] == "fail" {
		os.Exit(7)
	}
}
`

// buildHello builds helloProgram as a static linux binary and returns it.
func buildHello(t *testing.T) []byte {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(helloProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := checkers.Command(t, "go", "build", "-trimpath", "-o", "hello", ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=")
	checkers.RunCmd(t, cmd)
	b, err := os.ReadFile(filepath.Join(src, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPodman(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() // upper case in the path: Load must cope
	layout := filepath.Join(dir, "Layout")
	writeLayout(t, layout, "v1", []member{
		{name: "bin/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "bin/hello", typeflag: tar.TypeReg, mode: 0o755, content: string(buildHello(t))},
	})

	t.Run("PodmanRun", func(t *testing.T) {
		if got := checkers.PodmanRun(t, "oci:"+layout+":v1", "/bin/hello", "a", "b"); got != "hello a b\n" {
			t.Errorf("PodmanRun = %q, want %q", got, "hello a b\n")
		}
	})

	t.Run("Store", func(t *testing.T) {
		p := checkers.NewPodman(t)
		id := p.Load("oci:" + layout + ":v1")
		if got := p.Inspect(id, "{{.Os}}/{{.Architecture}}"); got != "linux/amd64" {
			t.Errorf("inspect os/arch = %q, want linux/amd64", got)
		}
		stdout, _, err := p.RunErr(id, "/bin/hello", "fail")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 7 {
			t.Errorf("RunErr(fail) error = %v, want exit status 7", err)
		}
		if stdout != "hello fail\n" {
			t.Errorf("RunErr(fail) stdout = %q, want %q", stdout, "hello fail\n")
		}

		// The same image through docker-archive: (podman load).
		archive := filepath.Join(dir, "Image.tar")
		checkers.Run(t, "", "skopeo", "copy", "-q", "oci:"+layout+":v1", "docker-archive:"+archive+":checkers.test/hello:v1")
		id2 := p.Load("docker-archive:" + archive)
		if got := p.Run(id2, "/bin/hello", "again"); got != "hello again\n" {
			t.Errorf("Run(docker-archive image) = %q", got)
		}
	})
}
