package checkers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitDelay bounds how long a command's pipes may stay open after it exits
// (a daemonized grandchild would otherwise keep Run waiting forever).
const waitDelay = 10 * time.Second

// Need returns the path of the tool name, or fails t with an install hint.
// It searches PATH, then the go install directories, then the sbin
// directories.
func Need(t testing.TB, name string) string {
	t.Helper()
	path, searched := lookTool(name)
	if path != "" {
		return path
	}
	hint := "run `make deps` (scripts/install-deps.sh) to install the test tools"
	if ci := os.Getenv("CI"); ci != "" {
		hint += fmt.Sprintf("; CI=%s, so the tools must be installed before the tests run", ci)
	}
	t.Fatalf("checkers: %s not found (searched PATH, %s): %s", name, strings.Join(searched, ", "), hint)
	return ""
}

// lookTool returns the path of name ("" if not found) and the directories
// searched besides PATH.
func lookTool(name string) (string, []string) {
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
		return p, nil
	}
	dirs := extraDirs()
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, dirs
		}
	}
	return "", dirs
}

// extraDirs lists the directories searched after PATH, without duplicates.
var extraDirs = sync.OnceValue(func() []string {
	var dirs []string
	add := func(d string) {
		if d == "" || !filepath.IsAbs(d) {
			return
		}
		for _, have := range dirs {
			if have == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	add(os.Getenv("GOBIN"))
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		goBin := "go"
		if _, err := exec.LookPath(goBin); err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		if out, err := exec.Command(goBin, "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		add(filepath.Join(p, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, "go", "bin"))
	}
	add("/usr/local/go/bin")
	add("/usr/local/sbin")
	add("/usr/sbin")
	add("/sbin")
	return dirs
})

// Command returns an exec.Cmd for the tool name (found with Need) that is
// killed when the test's context is done. Set Dir, Env or Stdin on it and
// run it with RunCmd or RunCmdErr.
func Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), Need(t, name), args...)
	cmd.WaitDelay = waitDelay
	return cmd
}

// Run runs the tool name with args in dir ("" for the current directory) and
// returns its stdout. A non-zero exit fails t with the command line and the
// combined output.
func Run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := Command(t, name, args...)
	cmd.Dir = dir
	return RunCmd(t, cmd)
}

// RunErr runs the tool name with args in dir and returns its stdout, its
// stderr and the error from running it (an *exec.ExitError for a non-zero
// exit), for tests that expect the tool to reject something. A missing tool
// still fails t.
func RunErr(t testing.TB, dir, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := Command(t, name, args...)
	cmd.Dir = dir
	return RunCmdErr(cmd)
}

// RunCmd runs cmd and returns its stdout; on failure it fails t with the
// command line and the combined output.
func RunCmd(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	stdout, combined, err := runCmd(cmd)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmdline(cmd), err, indent(combined))
	}
	return stdout
}

// RunCmdErr runs cmd and returns its stdout, its stderr and the error from
// running it.
func RunCmdErr(cmd *exec.Cmd) (stdout, stderr string, err error) {
	var outBuf, errBuf bytes.Buffer
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return "", "", errors.New("checkers: RunCmdErr: Stdout or Stderr already set")
	}
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w", cmdline(cmd), err)
	}
	return outBuf.String(), errBuf.String(), err
}

// runCmd runs cmd, returning stdout and stdout and stderr interleaved.
func runCmd(cmd *exec.Cmd) (stdout, combined string, err error) {
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return "", "", errors.New("checkers: Stdout or Stderr already set")
	}
	var outBuf bytes.Buffer
	all := &lockedBuffer{}
	cmd.Stdout = multiWriter{&outBuf, all}
	cmd.Stderr = all
	err = cmd.Run()
	return outBuf.String(), all.String(), err
}

// multiWriter writes to both; unlike io.MultiWriter it is comparable, and it
// is only ever written by one goroutine (exec copies stdout in one).
type multiWriter struct {
	a *bytes.Buffer
	b *lockedBuffer
}

func (w multiWriter) Write(p []byte) (int, error) {
	w.a.Write(p)
	return w.b.Write(p)
}

// lockedBuffer is a bytes.Buffer that two copying goroutines can share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cmdline renders cmd for messages: the tool's base name, then its arguments,
// quoted where needed, and the directory when one is set.
func cmdline(cmd *exec.Cmd) string {
	parts := []string{filepath.Base(cmd.Path)}
	for _, a := range cmd.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$") {
			a = fmt.Sprintf("%q", a)
		}
		parts = append(parts, a)
	}
	s := strings.Join(parts, " ")
	if cmd.Dir != "" {
		s += " (in " + cmd.Dir + ")"
	}
	return s
}

// indent prefixes every line of s for readable failure messages.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "\t(no output)"
	}
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
