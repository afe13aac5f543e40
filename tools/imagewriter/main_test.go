package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the test binary stand in for imagewriter: with
// IMAGEWRITER_TEST_EXEC=1 in its environment it runs main, so tests can run
// the CLI as a separate process (to vary TZ, GOMAXPROCS or the user)
// without building it.
func TestMain(m *testing.M) {
	if os.Getenv("IMAGEWRITER_TEST_EXEC") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// result is what one command line did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs imagewriter in process with the given environment variables
// (nothing else of the real environment is visible).
func runCLI(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env{
		stdout: &stdout,
		stderr: &stderr,
		getenv: func(k string) string { return vars[k] },
	})
	return result{code, stdout.String(), stderr.String()}
}

// runProcess runs imagewriter as a child process with extra environment
// variables; cred, if set, runs it as another user.
func runProcess(t *testing.T, bin string, vars []string, cred *syscall.Credential, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "IMAGEWRITER_TEST_EXEC=1"), vars...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{code, stdout.String(), stderr.String()}
}

// selfBinary returns the path of this test binary, which runs main under
// IMAGEWRITER_TEST_EXEC=1.
func selfBinary(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r result) check(t *testing.T, wantCode int, wantStderr ...string) {
	t.Helper()
	if r.code != wantCode {
		t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, wantCode, r.stdout, r.stderr)
	}
	for _, w := range wantStderr {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{args: []string{"--help"}, want: []string{"imagewriter builds OCI container images", "Exit codes: 0 success; 1 failure", "2 usage errors", "@FILE", "layer", "Build one reproducible layer blob"}},
		{args: nil, want: []string{"imagewriter builds OCI container images", "layer"}},
		{args: []string{"help"}, want: []string{"imagewriter builds OCI container images"}},
		{
			args: []string{"layer", "--help"},
			want: []string{
				"docs/layer-spec.md", "Usage:", "imagewriter layer", "--spec FILE", "--output BLOB",
				"--spec", "--output", "--metadata", "OUTPUT.json", "--compression", "gzip, zstd or none",
				"--level", "gzip 1..9 (default 6), zstd 1..22 (default 3)", "--platform", "--mtime", "@SECONDS",
				"--source-date-epoch", "$SOURCE_DATE_EPOCH", "Unix epoch", "0644", "0755", "temporary names",
			},
		},
		{args: []string{"help", "layer"}, want: []string{"--spec", "--source-date-epoch"}},
		{args: []string{"layer", "-h"}, want: []string{"--spec"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit code %d, stderr %q", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("help does not mention %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

// TestUsageErrors: every misuse of the command line exits 2 with a message
// naming the flag and a pointer to --help, and writes nothing.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(spec, []byte(`{"entries":[{"type":"dir","path":"/a"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "layer.tar.gz")
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want []string
	}{
		{name: "unknown verb", args: []string{"frobnicate"}, want: []string{`imagewriter: unknown command "frobnicate"`, "Run 'imagewriter --help' for usage."}},
		{name: "misspelt verb", args: []string{"layr"}, want: []string{`unknown command "layr"; did you mean "layer"?`}},
		{name: "unknown root flag", args: []string{"--bogus"}, want: []string{"imagewriter: unknown flag: --bogus"}},
		{name: "unknown flag", args: []string{"layer", "--bogus"}, want: []string{"imagewriter layer: unknown flag: --bogus", "Run 'imagewriter layer --help' for usage."}},
		{name: "missing --spec", args: []string{"layer", "--output", out}, want: []string{"imagewriter layer: --spec and --output are required"}},
		{name: "missing --output", args: []string{"layer", "--spec", spec}, want: []string{"--spec and --output are required"}},
		{name: "bad --compression", args: []string{"layer", "--spec", spec, "--output", out, "--compression", "xz"}, want: []string{`--compression: compression "xz": want gzip, zstd or none`}},
		{name: "bad --level", args: []string{"layer", "--spec", spec, "--output", out, "--level", "10"}, want: []string{"gzip level 10: want 1..9"}},
		{name: "bad zstd --level", args: []string{"layer", "--spec", spec, "--output", out, "--compression", "zstd", "--level", "23"}, want: []string{"zstd level 23: want 1..22"}},
		{name: "--level not a number", args: []string{"layer", "--spec", spec, "--output", out, "--level", "fast"}, want: []string{`invalid argument "fast" for "--level"`}},
		{name: "extra argument", args: []string{"layer", "--spec", spec, "--output", out, "extra"}, want: []string{`unexpected argument "extra"`}},
		{name: "bad --mtime", args: []string{"layer", "--spec", spec, "--output", out, "--mtime", "yesterday"}, want: []string{`--mtime: time "yesterday"`}},
		{name: "--mtime and --source-date-epoch", vars: map[string]string{"SOURCE_DATE_EPOCH": "1"}, args: []string{"layer", "--spec", spec, "--output", out, "--mtime", "@1", "--source-date-epoch"}, want: []string{"--mtime and --source-date-epoch: give one"}},
		{name: "--source-date-epoch unset", args: []string{"layer", "--spec", spec, "--output", out, "--source-date-epoch"}, want: []string{"--source-date-epoch: $SOURCE_DATE_EPOCH is not set"}},
		{name: "missing param file", args: []string{"@" + filepath.Join(dir, "nope.params")}, want: []string{"imagewriter: param file:", "nope.params"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCLI(t, tt.vars, tt.args...).check(t, exitUsage, tt.want...)
			if _, err := os.Stat(filepath.Dir(out)); !os.IsNotExist(err) {
				t.Errorf("the output directory was created: %v", err)
			}
		})
	}
}

// TestParamFile: "@FILE" arguments expand to FILE's lines, as Bazel writes
// them; "@@x" is a literal "@x".
func TestParamFile(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(spec, []byte(`{"entries":[{"type":"file","path":"/@at","content":"x"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "layer.tar")
	params := filepath.Join(dir, "layer.params")
	lines := []string{"layer", "--spec", spec, "--compression", "none", "--output", out, "--mtime", "@1"}
	if err := os.WriteFile(params, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "@"+params)
	r.check(t, 0)
	if !strings.Contains(r.stdout, out) {
		t.Errorf("stdout %q does not name the output", r.stdout)
	}
	direct := runCLI(t, nil, append(slices.Clone(lines[:len(lines)-4]), "--output", out+".2", "--mtime", "@1")...)
	direct.check(t, 0)
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(out + ".2")
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("the param file and the same arguments on the command line built different layers")
	}

	takesValue := valueFlags(newRootCommand(env{}))
	if got, err := expandParamFiles([]string{"@@literal", "x", "@" + params}, takesValue); err != nil || strings.Join(got, " ") != "@literal x "+strings.Join(lines, " ") {
		t.Errorf("expandParamFiles = %q, %v", got, err)
	}
	empty := filepath.Join(dir, "empty.params")
	os.WriteFile(empty, nil, 0o644)
	if got, err := expandParamFiles([]string{"@" + empty, "a"}, takesValue); err != nil || strings.Join(got, "|") != "a" {
		t.Errorf("an empty param file: %q, %v", got, err)
	}
	// The value of a flag is never a param file; a boolean flag takes none.
	for _, tt := range []struct{ in, want []string }{
		{[]string{"layer", "--mtime", "@1"}, []string{"layer", "--mtime", "@1"}},
		{[]string{"layer", "-o", "@out"}, []string{"layer", "-o", "@out"}},
		{[]string{"layer", "--mtime=@1", "--source-date-epoch", "@" + empty}, []string{"layer", "--mtime=@1", "--source-date-epoch"}},
	} {
		if got, err := expandParamFiles(tt.in, takesValue); err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("expandParamFiles(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestFailureExitCode: a command line that is fine but cannot be carried out
// exits 1, with the verb once as a prefix.
func TestFailureExitCode(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, nil, "layer", "--spec", filepath.Join(dir, "missing.json"), "--output", filepath.Join(dir, "l.tar.gz"))
	r.check(t, exitFailure, "imagewriter layer: open ", "missing.json: no such file or directory")
	if strings.Count(r.stderr, "imagewriter layer:") != 1 || strings.Contains(r.stderr, "--help") {
		t.Errorf("stderr %q: want the verb once and no usage hint", r.stderr)
	}
}
