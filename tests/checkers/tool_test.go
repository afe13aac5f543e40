package checkers_test

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// fakeTB records a fatal failure instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

// fatalOf runs fn with a fakeTB in its own goroutine (Fatal ends it with
// runtime.Goexit) and returns the fatal message, or "" if fn returned.
func fatalOf(t *testing.T, fn func(tb testing.TB)) string {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fatal
}

func TestNeed(t *testing.T) {
	if p := checkers.Need(t, "sh"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("Need(sh) = %q, want a path ending in /sh", p)
	}
	msg := fatalOf(t, func(tb testing.TB) { checkers.Need(tb, "no-such-tool-xyz") })
	for _, want := range []string{"no-such-tool-xyz not found", "make deps"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Need(missing) failed with %q, want it to contain %q", msg, want)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	if got := checkers.Run(t, dir, "sh", "-c", "pwd; echo err >&2"); strings.TrimSpace(got) != dir {
		t.Errorf("Run(pwd) = %q, want %q", got, dir)
	}

	msg := fatalOf(t, func(tb testing.TB) { checkers.Run(tb, "", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3") })
	for _, want := range []string{"exit status 3", "to-stdout", "to-stderr", "sh -c"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failed Run message %q does not contain %q", msg, want)
		}
	}

	stdout, stderr, err := checkers.RunErr(t, "", "sh", "-c", "echo out; echo err >&2; exit 4")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 4 {
		t.Errorf("RunErr error = %v, want exit status 4", err)
	}
	if stdout != "out\n" || stderr != "err\n" {
		t.Errorf("RunErr = %q, %q; want \"out\\n\", \"err\\n\"", stdout, stderr)
	}
}
