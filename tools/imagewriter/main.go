// Command imagewriter builds reproducible OCI images. Every Bazel action of
// rules_imagewriter runs it, and it is a plain CLI for everyone else.
//
// Exit codes: 0 success; 1 failure, or a negative answer (verify found
// problems, diff found differences); 2 usage errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks an error as the caller's misuse of the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// incomparableError marks inputs that could not be compared (diff): exit
// 2, as DESIGN.md says, but without the usage hint.
type incomparableError struct{ err error }

func (e incomparableError) Error() string { return e.err.Error() }
func (e incomparableError) Unwrap() error { return e.err }

// negativeError is a complete answer that is "no" (verify found problems,
// diff found differences): exit 1, with the report already printed.
type negativeError struct{ msg string }

func (e negativeError) Error() string { return e.msg }

// env is what a verb may use of the outside world, so verbs run in tests.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, args []string, e env) int {
	root := newRootCommand(e)
	args, err := expandParamFiles(args, valueFlags(root))
	if err != nil {
		fmt.Fprintf(e.stderr, "imagewriter: %v\n", err)
		return exitUsage
	}
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	name := "imagewriter"
	if cmd != nil && cmd != root {
		name += " " + cmd.Name()
	}
	var neg negativeError
	if errors.As(err, &neg) {
		if neg.msg != "" {
			fmt.Fprintf(e.stderr, "%s: %s\n", name, neg.msg)
		}
		return exitFailure
	}
	fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
	var ie incomparableError
	if errors.As(err, &ie) {
		return exitUsage
	}
	var ue usageError
	if errors.As(err, &ue) {
		if cmd != nil {
			fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	}
	return exitFailure
}

func newRootCommand(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "imagewriter",
		Short: "Build reproducible OCI images: same inputs, same digests, on any machine",
		Long: `imagewriter builds OCI container images bit-for-bit reproducibly.

The same inputs give the same layer, config, manifest and index digests on any
machine, checkout path, user, umask, time zone or CPU count. Every timestamp
defaults to the Unix epoch; nothing reads the clock or the environment unless
a flag asks for it by name (e.g. --source-date-epoch).

Exit codes: 0 success; 1 failure, or a negative answer (verify found problems,
diff found differences); 2 usage errors.

Arguments may be read from files: an argument "@FILE" is replaced by FILE's
lines, one argument per line (Bazel's multiline param files).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without Args and RunE, cobra reports an unknown verb as a plain
		// error, which would exit 1; it is a usage error.
		Args:                       cobra.ArbitraryArgs,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				return usagef("unknown command %q; did you mean %q?", args[0], s[0])
			}
			return usagef("unknown command %q", args[0])
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	for _, newVerb := range verbs {
		cmd := newVerb(e)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if cmd.Args == nil {
			cmd.Args = noArgs
		} else {
			cmd.Args = usageArgs(cmd.Args)
		}
		root.AddCommand(cmd)
	}
	return root
}

// verbs lists the subcommands; each file adds its own with an init func.
var verbs []func(env) *cobra.Command

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
