package checkers

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// GoCommand is the go command: the one on PATH, else /usr/local/go/bin/go.
func GoCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// BuildImagewriter builds this module's imagewriter CLI into dir and returns
// the binary's path. Integration packages call it once (from TestMain or a
// sync.Once), so it returns an error rather than taking a testing.TB.
func BuildImagewriter(dir string) (string, error) {
	bin := filepath.Join(dir, "imagewriter")
	cmd := exec.Command(GoCommand(), "build", "-trimpath", "-o", bin, "github.com/imagewriter/rules_imagewriter/tools/imagewriter")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./tools/imagewriter: %v\n%s", err, out)
	}
	return bin, nil
}
