package layer_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Tokyo without the host's zoneinfo

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// TestReproducible builds the golden spec, plus a 12 MiB file so that
// pgzip really compresses a dozen blocks in parallel, twice: from two source
// directories made differently in every way that must not matter. The blobs
// must be byte for byte equal. (tools/imagewriter's tests do the same across
// processes with TZ and GOMAXPROCS in the environment.)
func TestReproducible(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	type setup struct {
		name     string
		path     string // where the sources live, under a temp dir
		umask    int
		sources  sourceOptions
		procs    int
		location *time.Location
	}
	a := setup{
		name: "a", path: "a", umask: 0o022, procs: 8, location: time.UTC,
		sources: sourceOptions{bigFile: 12 << 20},
	}
	b := setup{
		name: "b", path: "some/other/checkout/path", umask: 0o077, procs: 1, location: tokyo,
		sources: sourceOptions{
			bigFile: 12 << 20, reverse: true,
			mtime: time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC), atime: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
			uid: 1234, gid: 5678,
		},
	}
	root := t.TempDir()
	blobs := map[string]map[reproducible.Algorithm][]byte{}
	for _, st := range []setup{a, b} {
		func() {
			oldMask := syscall.Umask(st.umask)
			defer syscall.Umask(oldMask)
			oldProcs := runtime.GOMAXPROCS(st.procs)
			defer runtime.GOMAXPROCS(oldProcs)
			oldLocal := time.Local
			time.Local = st.location
			defer func() { time.Local = oldLocal }()

			dir := filepath.Join(root, st.path)
			spec := writeGoldenInputs(t, dir, st.sources)
			s, err := loadSpec(t, spec)
			if err != nil {
				t.Fatal(err)
			}
			blobs[st.name] = map[reproducible.Algorithm][]byte{}
			for _, alg := range algorithms {
				blob, _ := build(t, s, alg)
				blobs[st.name][alg] = blob
			}
		}()
	}
	// The two source trees really differ where it must not matter.
	fa, err := os.Stat(filepath.Join(root, a.path, "src", "app.conf"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(filepath.Join(root, b.path, "src", "app.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if fa.ModTime().Equal(fb.ModTime()) || fa.Mode() == fb.Mode() || fa.Sys().(*syscall.Stat_t).Uid == fb.Sys().(*syscall.Stat_t).Uid {
		t.Fatalf("the sources do not differ: %v %v / %v %v", fa.Mode(), fa.ModTime(), fb.Mode(), fb.ModTime())
	}
	for _, alg := range algorithms {
		ba, bb := blobs["a"][alg], blobs["b"][alg]
		if !bytes.Equal(ba, bb) {
			t.Errorf("%s: blobs differ: %d bytes sha256:%x vs %d bytes sha256:%x", alg, len(ba), sha256.Sum256(ba), len(bb), sha256.Sum256(bb))
		}
		if alg == reproducible.Gzip && len(ba) < 4<<20 {
			t.Errorf("gzip blob is %d bytes: the big file should need several 1 MiB blocks", len(ba))
		}
	}
}
