// Command gencorpus writes the "small" benchmark corpus: many small files of
// Go-source-like text, chosen by a fixed pseudo-random seed, so that the same
// flags and the same Go source tree always give the same bytes.
//
//	go run ./bench/gencorpus -out DIR [-files 20000] [-bytes 314572800] [-seed 1] [-src $(go env GOROOT)/src]
//
// Content is slices of the .go files under -src (sorted by path, up to 64 MiB
// of them), so it compresses like real code rather than like random bytes.
// File sizes follow a skewed mix (mostly a few KiB, some tens of KiB, a few
// hundred KiB) scaled so that they add up to exactly -bytes. Files are spread
// over two levels of directories; modes are 0644 and 0755 and every mtime is
// 2020-01-01T00:00:00Z. DIR must not exist.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// poolCap bounds how much source text is read.
const poolCap = 64 << 20

var mtime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("out", "", "directory to create (must not exist)")
	files := flag.Int("files", 20000, "number of files")
	total := flag.Int64("bytes", 300<<20, "total size of the files in bytes")
	seed := flag.Uint64("seed", 1, "pseudo-random seed")
	src := flag.String("src", "", "tree of .go files to take text from (default $(go env GOROOT)/src)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 || *files <= 0 || *total < 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *src == "" {
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gencorpus: go env GOROOT:", err)
			os.Exit(1)
		}
		*src = filepath.Join(strings.TrimSpace(string(goroot)), "src")
	}
	if err := run(*out, *src, *files, *total, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

func run(out, src string, files int, total int64, seed uint64) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s: already exists", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	pool, err := readPool(src)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	// Sizes: weights from a skewed mix, scaled to add up to total exactly.
	weights := make([]float64, files)
	var sum float64
	for i := range weights {
		var w float64
		switch r := rng.IntN(100); {
		case r < 70: // small: 256 B .. 8 KiB
			w = 256 + rng.Float64()*(8<<10-256)
		case r < 95: // medium: 8 .. 64 KiB
			w = 8<<10 + rng.Float64()*(56<<10)
		default: // large: 64 .. 256 KiB
			w = 64<<10 + rng.Float64()*(192<<10)
		}
		weights[i] = w
		sum += w
	}
	sizes := make([]int64, files)
	var assigned int64
	for i, w := range weights {
		sizes[i] = int64(w / sum * float64(total))
		assigned += sizes[i]
	}
	for i := 0; assigned < total; i = (i + 1) % files { // spread the rounding remainder
		sizes[i]++
		assigned++
	}

	exts := []string{".go.txt", ".go.txt", ".go.txt", ".txt", ".md", ".json"}
	perDir := 100
	buf := make([]byte, 0, 256<<10)
	for i, size := range sizes {
		dir := filepath.Join(out, fmt.Sprintf("d%02d", i/perDir/20), fmt.Sprintf("s%02d", i/perDir%20))
		if i%perDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		// Text: a few runs from random places in the pool.
		buf = buf[:0]
		for int64(len(buf)) < size {
			n := min(size-int64(len(buf)), int64(512+rng.IntN(16<<10)))
			off := rng.Int64N(int64(len(pool)) - n + 1)
			buf = append(buf, pool[off:off+n]...)
		}
		name := filepath.Join(dir, fmt.Sprintf("f%05d%s", i, exts[rng.IntN(len(exts))]))
		mode := fs.FileMode(0o644)
		if rng.IntN(50) == 0 {
			mode = 0o755
		}
		if err := os.WriteFile(name, buf, mode); err != nil {
			return err
		}
		if err := os.Chmod(name, mode); err != nil { // whatever the umask
			return err
		}
		if err := os.Chtimes(name, mtime, mtime); err != nil {
			return err
		}
	}
	// Directory modes and times last, deepest first, so that writing files
	// does not move them again.
	var dirs []string
	err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			return err
		}
	}
	return nil
}

// readPool concatenates the .go files under src in path order, up to poolCap
// bytes.
func readPool(src string) ([]byte, error) {
	var paths []string
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(path, ".go") {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	pool := make([]byte, 0, poolCap)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if len(pool)+len(b) > poolCap {
			break
		}
		pool = append(pool, b...)
	}
	if len(pool) < 1<<20 {
		return nil, fmt.Errorf("%s: only %d bytes of .go files, want at least 1 MiB", src, len(pool))
	}
	return pool, nil
}
