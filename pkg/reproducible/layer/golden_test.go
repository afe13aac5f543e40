package layer_test

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// The golden layer: one spec with every kind of entry the writer supports,
// built from inputs made here in code. Its digests, for each compression,
// are in testdata/golden/layer-<compression>.txt and its tar headers in
// testdata/golden/layer-entries.txt. A moved golden digest is a breaking
// change: it means the same inputs now give a different layer.

// longName is a base name over 100 bytes: it needs a PAX path record.
var longName = strings.Repeat("long-name-", 12) + "end"

// deepPath is over 100 bytes but splits into USTAR's prefix and name fields.
var deepPath = "opt/" + strings.Repeat("deeper-directory/", 6) + "file"

// sourceOptions vary what must not matter when the golden sources are made.
type sourceOptions struct {
	reverse      bool      // create files and directories in reverse order
	mtime, atime time.Time // set on every source (zero: as created)
	uid, gid     int       // owner of every source (0: as created)
	bigFile      int64     // add a generated file of this size to the tree
}

// goldenSpec is the golden layer's spec file, in the JSON form users write.
func goldenSpec(big bool) map[string]any {
	entries := []map[string]any{
		{"type": "file", "path": "/etc/app.conf", "source": "src/app.conf"},
		{"type": "file", "path": "/usr/bin/app", "source": "src/app"},
		{"type": "file", "path": "/etc/motd", "content": "hello\n", "uid": 1000, "gid": 1000, "uname": "app", "gname": "app", "mtime": "2024-01-02T03:04:05Z"},
		{"type": "file", "path": "/etc/bin.dat", "contentBase64": "AAECAwT/", "mode": "0600"},
		{"type": "file", "path": "/usr/share/same/a.txt", "content": "same bytes\n"},
		{"type": "file", "path": "/usr/share/same/b.txt", "content": "same bytes\n"},
		{"type": "file", "path": "/etc/xattr.conf", "content": "x\n", "xattrs": map[string]string{"user.comment": "golden", "user.b": "2"}},
		{"type": "dir", "path": "/tmp", "mode": "1777"},
		{"type": "dir", "path": "/var/empty", "mode": "0700", "uid": 65534, "gid": 65534},
		{"type": "tree", "path": "/opt/tree", "source": "src/tree"},
		{"type": "symlink", "path": "/usr/bin/app-link", "target": "app"},
		{"type": "symlink", "path": "/usr/bin/abs-link", "target": "/usr/bin/app"},
		{"type": "hardlink", "path": "/usr/bin/app-hard", "target": "/usr/bin/app"},
		{"type": "tar", "path": "/srv/fromtar", "source": "input.tar"},
		{"type": "tar", "path": "/srv/fromtgz", "source": "input.tar.gz", "preserveMtime": true, "preserveNames": true},
		{"type": "whiteout", "path": "/etc/removed"},
		{"type": "opaque", "path": "/var/cache"},
		{"type": "file", "path": "/opt/long/" + longName, "content": "long\n"},
		{"type": "file", "path": "/" + deepPath, "content": "deep\n"},
		{"type": "file", "path": "/opt/ünïcødé/日本語.txt", "content": "こんにちは\n"},
	}
	if big {
		entries = append(entries, map[string]any{"type": "file", "path": "/opt/big.bin", "source": "src/big.bin"})
	}
	return map[string]any{
		"createParentDirectories": true,
		"hardlinkDuplicates":      true,
		"entries":                 entries,
		"attributes": map[string]any{
			"/opt/tree/c.txt":  map[string]any{"mode": "0600", "uid": 5},
			"/srv/fromtar/bin": map[string]any{"mode": "0711"},
		},
	}
}

// goldenInputTar is input.tar: what a rules_pkg or `tar c` input looks like,
// with a root entry, owners, names, mtimes, a hard link, a symlink, a
// whiteout and an xattr.
func goldenInputTar(t testing.TB) []byte {
	return makeTar(t,
		tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "./bin/", Mode: 0o755, Uname: "root", Gname: "root"}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "./bin/busybox", Mode: 0o755, Uname: "root", Gname: "root"}, Body: "\x7fELF busybox"},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "./bin/sh", Linkname: "busybox", Mode: 0o777}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "./etc/", Mode: 0o755}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "./etc/hosts", Mode: 0o644, Uid: 0, Uname: "root"}, Body: "127.0.0.1 localhost\n"},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeLink, Name: "./etc/hosts.bak", Linkname: "./etc/hosts"}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "./etc/shadow", Mode: 0o640, Gid: 42, Gname: "shadow",
			PAXRecords: map[string]string{"SCHILY.xattr.user.tar": "from-tar"}}, Body: "root:*:19000::::::\n"},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "./home/user/", Mode: 0o750, Uid: 1000, Gid: 1000, Uname: "user", Gname: "user"}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "./var/lib/.wh.stale"}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "./var/lib/", Mode: 0o755}},
	)
}

// goldenInputTgz is input.tar.gz, a second tar, compressed, in GNU format
// with a GNU long name ('L' record).
func goldenInputTgz(t testing.TB) []byte {
	return gzipBytes(t, makeTar(t,
		tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: "share/doc/", Mode: 0o755, Uname: "bin", Gname: "bin", Uid: 2, Gid: 2}},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "share/doc/README", Mode: 0o444, Uname: "bin", Gname: "bin", Uid: 2, Gid: 2,
			ModTime: time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)}, Body: "read me\n"},
		tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "share/" + longName, Mode: 0o644, Format: tar.FormatGNU}, Body: "gnu\n"},
	))
}

// writeGoldenInputs makes the golden layer's inputs in dir and returns the
// spec file's path.
func writeGoldenInputs(t testing.TB, dir string, o sourceOptions) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	ops := []func(){
		func() { writeFile(t, filepath.Join(src, "app.conf"), "key = value\n", 0o644) },
		func() { writeFile(t, filepath.Join(src, "app"), "#!/bin/sh\necho app\n", 0o755) },
		func() { writeFile(t, filepath.Join(src, "tree", "a", "b.txt"), "b\n", 0o644) },
		func() { writeFile(t, filepath.Join(src, "tree", "c.txt"), "c\n", 0o666) },
		func() { writeFile(t, filepath.Join(src, "tree", "run.sh"), "#!/bin/sh\n", 0o700) },
		func() { writeFile(t, filepath.Join(src, "tree", "z", "y", "x.txt"), "x\n", 0o600) },
		func() { mkdir(t, filepath.Join(src, "tree", "m", "empty")) },
		func() { symlink(t, "c.txt", filepath.Join(src, "tree", "link")) },
		func() { symlink(t, "../c.txt", filepath.Join(src, "tree", "a", "up")) },
		func() { writeFile(t, filepath.Join(dir, "input.tar"), string(goldenInputTar(t)), 0o644) },
		func() { writeFile(t, filepath.Join(dir, "input.tar.gz"), string(goldenInputTgz(t)), 0o644) },
	}
	if o.bigFile > 0 {
		ops = append(ops, func() { writeGenFile(t, newDataGen(42), filepath.Join(src, "big.bin"), o.bigFile) })
	}
	if o.reverse {
		for i := len(ops) - 1; i >= 0; i-- {
			ops[i]()
		}
	} else {
		for _, op := range ops {
			op()
		}
	}
	spec := writeSpec(t, dir, goldenSpec(o.bigFile > 0))
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if o.uid != 0 || o.gid != 0 {
			if err := os.Lchown(p, o.uid, o.gid); err != nil {
				return err
			}
		}
		if !o.mtime.IsZero() && d.Type()&fs.ModeSymlink == 0 {
			return os.Chtimes(p, o.atime, o.mtime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func mkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, p string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

var algorithms = []reproducible.Algorithm{reproducible.Gzip, reproducible.Zstd, reproducible.None}

// goldenText is the content of testdata/golden/layer-<alg>.txt.
func goldenText(m layer.Metadata) string {
	return fmt.Sprintf(`# The golden layer's digests (pkg/reproducible/layer/golden_test.go).
# A change here is a breaking change. Rewrite with:
#   go test ./pkg/reproducible/layer -run TestGolden -update
mediaType %s
digest %s
size %d
diffID %s
uncompressedSize %d
compression %s level %d
implementation %s
`, m.Descriptor.MediaType, m.Descriptor.Digest, m.Descriptor.Size, m.DiffID, m.UncompressedSize,
		m.Compression.Algorithm, m.Compression.Level, m.Compression.Implementation)
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		mkdir(t, filepath.Dir(p))
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s moved (-want +got); if that is intended, run with -update and say why in the commit:\n%s", p, diff)
	}
}

func TestGolden(t *testing.T) {
	spec := writeGoldenInputs(t, t.TempDir(), sourceOptions{})
	s, err := loadSpec(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	var diffID string
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			blob, m := build(t, s, alg)
			checkGolden(t, "layer-"+string(alg)+".txt", goldenText(m))
			if diffID == "" {
				diffID = m.DiffID.String()
			} else if m.DiffID.String() != diffID {
				t.Errorf("diffID %s, but %s for gzip: the tar differs between compressions", m.DiffID, diffID)
			}
			if alg == reproducible.None {
				checkGolden(t, "layer-entries.txt", listTar(t, blob))
			}
		})
	}
}
