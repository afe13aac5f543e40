package checkers

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Podman is a throw-away, daemon-less podman (run as root) with its own
// image store under a short temporary directory in /tmp. Each flag was needed
// on these machines:
//
//	--storage-driver vfs       no overlayfs inside the sandbox
//	--cgroup-manager cgroupfs  no systemd
//	--runtime runc             crun fails: "cgroups in hybrid mode not supported"
//	--ulimit nofile/nproc      the default RLIMIT_NOFILE is above the hard limit: EPERM
//	--network none             no netavark/CNI; tests need no network
//
// The root, the run root and podman's tmpdir all live under the one temporary
// directory (the run root must stay under 50 characters), so several Podmans
// can run at once.
type Podman struct {
	t   testing.TB
	dir string
	// global holds the binary and the global flags.
	global []string
	// RunFlags are added to every `podman run` before the image, after the
	// defaults (--rm --network none and the ulimits); e.g. "--user", "1000".
	RunFlags []string
}

// NewPodman creates an empty podman store; a t.Cleanup runs
// `podman system reset -f` and removes it.
func NewPodman(t testing.TB) *Podman {
	t.Helper()
	bin := Need(t, "podman")
	Need(t, "runc")
	// Short and lowercase: podman names images pulled from oci: paths after
	// the path, and rejects upper case there.
	dir, err := os.MkdirTemp("/tmp", "pm")
	if err != nil {
		t.Fatal(err)
	}
	p := &Podman{
		t:   t,
		dir: dir,
		global: []string{bin,
			"--root", filepath.Join(dir, "root"),
			"--runroot", filepath.Join(dir, "run"),
			"--tmpdir", filepath.Join(dir, "tmp"),
			"--storage-driver", "vfs",
			"--cgroup-manager", "cgroupfs",
			"--runtime", "runc",
		},
	}
	t.Cleanup(func() {
		// t.Context is already done here.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, p.global[0], append(p.global[1:], "system", "reset", "-f")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("podman system reset: %v\n%s", err, indent(string(out)))
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove podman store: %v", err)
		}
	})
	return p
}

// Command returns a podman command with the store's global flags, killed
// when the test's context is done.
func (p *Podman) Command(args ...string) *exec.Cmd {
	cmd := exec.CommandContext(p.t.Context(), p.global[0], append(p.global[1:], args...)...)
	cmd.WaitDelay = waitDelay
	return cmd
}

// Load brings the image at source, a containers-transports reference, into
// the store and returns its image ID:
//
//	docker-archive:/path/x.tar        podman load
//	oci-archive:/path/x.tar[:name]    podman pull
//	oci:/path/layout[:tag]            podman pull
//
// oci: and oci-archive: paths are reached through a symlink inside the store
// directory, because podman derives an image name from the path and rejects
// paths with upper case letters (t.TempDir's are).
func (p *Podman) Load(source string) (id string) {
	p.t.Helper()
	transport, rest, ok := strings.Cut(source, ":")
	if !ok {
		p.t.Fatalf("podman load %q: not a transport:reference", source)
	}
	var out string
	switch transport {
	case "docker-archive":
		path, _, _ := strings.Cut(rest, ":")
		out = RunCmd(p.t, p.Command("load", "-q", "-i", path))
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if _, v, ok := strings.Cut(line, ": "); ok && strings.HasPrefix(line, "Loaded image") {
				id = strings.TrimSpace(v)
			}
		}
		// A name (or several, comma-separated): resolve it to the ID.
		if id != "" {
			id, _, _ = strings.Cut(id, ",")
			id = strings.TrimSpace(RunCmd(p.t, p.Command("image", "inspect", "--format", "{{.Id}}", id)))
		}
	case "oci", "oci-archive":
		path, ref, hasRef := strings.Cut(rest, ":")
		abs, err := filepath.Abs(path)
		if err != nil {
			p.t.Fatal(err)
		}
		link, err := os.MkdirTemp(p.dir, "src")
		if err != nil {
			p.t.Fatal(err)
		}
		link = filepath.Join(link, "img")
		if err := os.Symlink(abs, link); err != nil {
			p.t.Fatal(err)
		}
		src := transport + ":" + link
		if hasRef {
			src += ":" + ref
		}
		out = RunCmd(p.t, p.Command("pull", "-q", src))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		id = strings.TrimSpace(lines[len(lines)-1])
	default:
		out = RunCmd(p.t, p.Command("pull", "-q", source))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		id = strings.TrimSpace(lines[len(lines)-1])
	}
	if id == "" {
		p.t.Fatalf("podman could not load %s; output:\n%s", source, indent(out))
	}
	return id
}

// runArgs is the `podman run` command line for image and args.
func (p *Podman) runArgs(image string, args []string) []string {
	a := []string{"run", "--rm", "--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
	a = append(a, p.RunFlags...)
	a = append(a, image)
	return append(a, args...)
}

// Run runs image (an ID from Load, or a name in the store) with args as the
// command, and returns the container's stdout. A non-zero exit fails t with
// the combined output.
func (p *Podman) Run(image string, args ...string) (stdout string) {
	p.t.Helper()
	return RunCmd(p.t, p.Command(p.runArgs(image, args)...))
}

// RunErr is Run returning stdout, stderr and the error (an *exec.ExitError
// carrying the container's exit code; podman itself uses 125-127).
func (p *Podman) RunErr(image string, args ...string) (stdout, stderr string, err error) {
	p.t.Helper()
	return RunCmdErr(p.Command(p.runArgs(image, args)...))
}

// Inspect returns `podman image inspect --format FORMAT image`, trimmed; e.g.
// FORMAT "{{.Config.Entrypoint}}".
func (p *Podman) Inspect(image, format string) string {
	p.t.Helper()
	return strings.TrimSpace(RunCmd(p.t, p.Command("image", "inspect", "--format", format, image)))
}

// PodmanRun loads source (see Podman.Load) into a fresh store, runs it once
// with args as the command and returns the container's stdout; the store is
// deleted when the test ends.
func PodmanRun(t testing.TB, source string, args ...string) (stdout string) {
	t.Helper()
	p := NewPodman(t)
	return p.Run(p.Load(source), args...)
}
