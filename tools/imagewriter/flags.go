package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// expandParamFiles replaces each "@FILE" argument with FILE's lines, the
// multiline param-file format Bazel writes. "@@x" stands for a literal "@x".
// An argument that is the value of the flag before it is left alone, so that
// "--mtime @1700000000" means a time, not a file: takesValue reports whether
// an argument such as "--mtime" or "-o" is a flag that takes a value.
func expandParamFiles(args []string, takesValue func(arg string) bool) ([]string, error) {
	var out []string
	for i, a := range args {
		switch {
		case i > 0 && takesValue(args[i-1]):
			out = append(out, a)
		case strings.HasPrefix(a, "@@"):
			out = append(out, a[1:])
		case strings.HasPrefix(a, "@") && len(a) > 1:
			b, err := os.ReadFile(a[1:])
			if err != nil {
				return nil, fmt.Errorf("param file: %v", err)
			}
			s := strings.TrimSuffix(string(b), "\n")
			if s != "" {
				out = append(out, strings.Split(s, "\n")...)
			}
		default:
			out = append(out, a)
		}
	}
	return out, nil
}

// mtimeFlags are the flags that choose the default timestamp.
type mtimeFlags struct {
	mtime           string
	sourceDateEpoch bool
}

func (f *mtimeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.mtime, "mtime", "", "default timestamp of entries: RFC 3339 or @SECONDS (default: the Unix epoch)")
	cmd.Flags().BoolVar(&f.sourceDateEpoch, "source-date-epoch", false, "take the default timestamp from $SOURCE_DATE_EPOCH")
}

// resolve returns the chosen time; zero means the policy's epoch.
func (f *mtimeFlags) resolve(e env) (time.Time, error) {
	switch {
	case f.mtime != "" && f.sourceDateEpoch:
		return time.Time{}, usagef("--mtime and --source-date-epoch: give one")
	case f.mtime != "":
		t, err := reproducible.ParseTime(f.mtime)
		if err != nil {
			return time.Time{}, usagef("--mtime: %v", err)
		}
		return t, nil
	case f.sourceDateEpoch:
		v := e.getenv("SOURCE_DATE_EPOCH")
		if v == "" {
			return time.Time{}, usagef("--source-date-epoch: $SOURCE_DATE_EPOCH is not set")
		}
		return reproducible.ParseSourceDateEpoch(v)
	}
	return time.Time{}, nil
}

// compressionFlags choose a layer compression.
type compressionFlags struct {
	algorithm string
	level     int
}

func (f *compressionFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.algorithm, "compression", "", "layer compression: gzip, zstd or none (default: the spec's, else gzip)")
	cmd.Flags().IntVar(&f.level, "level", 0, "compression level: gzip 1..9 (default 6), zstd 1..22 (default 3)")
}

// resolve applies the flags over a spec's choice.
func (f *compressionFlags) resolve(cmd *cobra.Command, fromSpec *reproducible.Compression) (reproducible.Compression, error) {
	var c reproducible.Compression
	if fromSpec != nil {
		c = *fromSpec
	}
	if cmd.Flags().Changed("compression") {
		alg, err := reproducible.ParseAlgorithm(f.algorithm)
		if err != nil {
			return c, usagef("--compression: %v", err)
		}
		if alg != c.Algorithm {
			c.Level = 0
		}
		c.Algorithm = alg
	}
	if cmd.Flags().Changed("level") {
		c.Level = f.level
	}
	r, err := c.Resolved()
	if err != nil {
		if cmd.Flags().Changed("level") || cmd.Flags().Changed("compression") {
			return c, usagef("%v", err)
		}
		return c, fmt.Errorf("compression: %v", err)
	}
	return r, nil
}

func cut(s, sep string) (string, string, bool) { return strings.Cut(s, sep) }

// valueFlags returns a takesValue for expandParamFiles: true for "--name" and
// "-n" (without "=value") when some command of the tree has such a flag and
// it is not a boolean flag.
func valueFlags(root *cobra.Command) func(string) bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.NoOptDefVal == "" {
				names["--"+f.Name] = true
				if f.Shorthand != "" {
					names["-"+f.Shorthand] = true
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return func(arg string) bool { return names[arg] }
}
