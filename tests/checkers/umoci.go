package checkers

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// UmociUnpack unpacks the image tagged tag in the OCI image layout layoutDir
// with `umoci unpack --rootless` (umoci checks digests, sizes, diff_ids and
// media types, and applies whiteouts) into a temporary bundle, and returns
// the bundle's rootfs directory. The bundle's config.json and umoci.json sit
// in filepath.Dir(rootfs). Rootless unpacking keeps modes but not owners.
func UmociUnpack(t testing.TB, layoutDir, tag string) (rootfs string) {
	t.Helper()
	rootfs, out, err := UmociUnpackErr(t, layoutDir, tag)
	if err != nil {
		t.Fatalf("%v\n%s", err, indent(out))
	}
	return rootfs
}

// UmociUnpackErr is UmociUnpack for images umoci should reject: it returns
// umoci's combined output and error instead of failing t (a missing umoci
// still fails t).
func UmociUnpackErr(t testing.TB, layoutDir, tag string) (rootfs, output string, err error) {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "bundle")
	// Layers may hold read-only directories; make them writable again so
	// that the temporary directory can be removed when not running as root.
	t.Cleanup(func() { makeWritable(bundle) })
	cmd := Command(t, "umoci", "unpack", "--rootless", "--image", layoutDir+":"+tag, bundle)
	_, combined, err := runCmd(cmd)
	if err != nil {
		err = &cmdError{cmd: cmdline(cmd), err: err}
	}
	return filepath.Join(bundle, "rootfs"), combined, err
}

// makeWritable adds owner write and search permission to every directory
// under root, ignoring errors (it only prepares a removal).
func makeWritable(root string) {
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o700 != 0o700 {
				_ = os.Chmod(path, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}

// cmdError is a failed command, named by its command line.
type cmdError struct {
	cmd string
	err error
}

func (e *cmdError) Error() string { return e.cmd + ": " + e.err.Error() }
func (e *cmdError) Unwrap() error { return e.err }
