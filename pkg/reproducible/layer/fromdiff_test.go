package layer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
	"github.com/imagewriter/rules_imagewriter/tests/checkers"
)

// fdApply runs tree operations, one per line, on root:
//
//	d PATH MODE             mkdir (parents as needed) and chmod
//	f PATH MODE CONTENT     write a file and chmod
//	l PATH TARGET           symlink
//	h PATH TARGET           hard link to the file TARGET (a path in root)
//	p PATH                  FIFO
//	rm PATH                 remove, recursively
//	chmod PATH MODE
//	touch PATH SECONDS      set the mtime
func fdApply(t testing.TB, root, ops string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(ops), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if err := fdOp(root, f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	}
}

func fdOp(root string, f []string) error {
	p := filepath.Join(root, f[1])
	mode := func(s string) fs.FileMode {
		var m uint32
		fmt.Sscanf(s, "%o", &m)
		fm := fs.FileMode(m & 0o777)
		if m&0o4000 != 0 {
			fm |= fs.ModeSetuid
		}
		if m&0o2000 != 0 {
			fm |= fs.ModeSetgid
		}
		if m&0o1000 != 0 {
			fm |= fs.ModeSticky
		}
		return fm
	}
	if f[0] != "rm" && f[0] != "chmod" && f[0] != "touch" {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
	}
	switch f[0] {
	case "d":
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		return os.Chmod(p, mode(f[2]))
	case "f":
		if err := os.WriteFile(p, []byte(strings.Join(f[3:], " ")), 0o600); err != nil {
			return err
		}
		return os.Chmod(p, mode(f[2]))
	case "l":
		return os.Symlink(f[2], p)
	case "h":
		return os.Link(filepath.Join(root, f[2]), p)
	case "p":
		return syscall.Mkfifo(p, 0o644)
	case "rm":
		return os.RemoveAll(p)
	case "chmod":
		return os.Chmod(p, mode(f[2]))
	case "touch":
		var s int64
		fmt.Sscanf(f[2], "%d", &s)
		return os.Chtimes(p, time.Unix(s, 0), time.Unix(s, 0))
	}
	return fmt.Errorf("unknown op %q", f[0])
}

// fdCopy copies a tree, keeping modes, mtimes, symlinks, FIFOs and hard
// links (as hard links).
func fdCopy(t testing.TB, src, dst string) {
	t.Helper()
	seen := map[uint64]string{}
	err := filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch m := fi.Mode(); {
		case m.IsDir():
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
		case m&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return os.Symlink(target, out)
		case m&fs.ModeNamedPipe != 0:
			if err := syscall.Mkfifo(out, 0o600); err != nil {
				return err
			}
		case m.IsRegular():
			ino := fi.Sys().(*syscall.Stat_t).Ino
			if first, ok := seen[ino]; ok {
				return os.Link(first, out)
			}
			seen[ino] = out
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o600); err != nil {
				return err
			}
		}
		if err := os.Chmod(out, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
		return os.Chtimes(out, fi.ModTime(), fi.ModTime())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fdLinkGroups lists the sets of regular files under root that share an
// inode, each sorted, the list sorted.
func fdLinkGroups(t testing.TB, root string) []string {
	t.Helper()
	by := map[uint64][]string{}
	filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return nil
		}
		fi, _ := os.Lstat(p)
		rel, _ := filepath.Rel(root, p)
		ino := fi.Sys().(*syscall.Stat_t).Ino
		by[ino] = append(by[ino], filepath.ToSlash(rel))
		return nil
	})
	var out []string
	for _, g := range by {
		if len(g) > 1 {
			slices.Sort(g)
			out = append(out, strings.Join(g, "="))
		}
	}
	slices.Sort(out)
	return out
}

// fdLayer builds entries as an uncompressed layer.
func fdLayer(t testing.TB, entries []layer.Entry) []byte {
	t.Helper()
	s, err := layer.NewSpec(entries, layer.SpecOptions{})
	if err != nil {
		t.Fatalf("NewSpec: %v", err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if _, err := layer.Build(context.Background(), &buf, s, layer.BuildOptions{Compression: reproducible.Compression{Algorithm: reproducible.None}}); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return buf.Bytes()
}

// fdRoundTrip makes LOWER a layer (FromDiff of an empty tree) and the
// changeset a second one, applies both with unpack, and compares the
// result with UPPER. It returns the two layers.
func fdRoundTrip(t testing.TB, lower, upper string) (base, top []byte, changes []layer.Entry) {
	t.Helper()
	empty := t.TempDir()
	be, err := layer.FromDiff(empty, lower, layer.FromDiffOptions{})
	if err != nil {
		t.Fatalf("FromDiff(empty, lower): %v", err)
	}
	changes, err = layer.FromDiff(lower, upper, layer.FromDiffOptions{})
	if err != nil {
		t.Fatalf("FromDiff(lower, upper): %v", err)
	}
	base, top = fdLayer(t, be), fdLayer(t, changes)
	dst := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := unpack.Apply(context.Background(), dst, unpack.Options{}, bytes.NewReader(base), bytes.NewReader(top)); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if d := checkers.DiffTrees(checkers.Tree(t, upper), checkers.Tree(t, dst)); d != "" {
		t.Errorf("LOWER + changeset, unpacked by imagewriter (-upper +got):\n%s\nchangeset:\n%s", d, fdList(changes))
	}
	if d := cmp.Diff(fdLinkGroups(t, upper), fdLinkGroups(t, dst)); d != "" {
		t.Errorf("hard link groups (-upper +got):\n%s", d)
	}
	return base, top, changes
}

func fdList(es []layer.Entry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(fdString(e) + "\n")
	}
	return b.String()
}

func fdString(e layer.Entry) string {
	s := e.Kind.String() + " " + e.Path
	if e.Kind == layer.Hardlink || e.Kind == layer.Symlink {
		s += " -> " + e.Linkname
	}
	if e.Kind == layer.File || e.Kind == layer.Dir {
		s += fmt.Sprintf(" %04o", e.Mode)
	}
	return s
}

// fdLayout writes a linux/amd64 image of uncompressed layers tagged "test".
func fdLayout(t testing.TB, layers ...[]byte) string {
	t.Helper()
	l := layout.New()
	var hist []image.LayerHistory
	var descs []ocispec.Descriptor
	for _, b := range layers {
		lb := image.BlobOf(ocispec.MediaTypeImageLayer, b)
		l.AddBlob(lb)
		descs = append(descs, lb.Descriptor)
		hist = append(hist, image.LayerHistory{DiffID: digest.FromBytes(b), CreatedBy: "test"})
	}
	cf, config, err := image.NewConfig(image.ConfigOptions{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: hist})
	if err != nil {
		t.Fatal(err)
	}
	m, err := image.NewManifest(config, descs, image.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.AddImage(image.Image{Manifest: m, Config: config, ConfigFile: cf, Layers: descs})
	l.Tag(m.Descriptor, "test")
	dst := filepath.Join(t.TempDir(), "layout")
	if err := layout.WriteDir(context.Background(), dst, l); err != nil {
		t.Fatal(err)
	}
	return dst
}

const fdBase = `
d etc 0755
f etc/hostname 0644 box
f etc/passwd 0644 root:x:0:0
d usr/bin 0755
f usr/bin/app 0755 app v1
h usr/bin/app-link usr/bin/app
l usr/bin/sh busybox
f usr/bin/busybox 0755 bb
d var/cache/apt 0755
f var/cache/apt/a.bin 0644 a
f var/cache/apt/b.bin 0644 b
d var/lib 0755
f var/lib/keep 0644 keep
d opt/tool 0755
f opt/tool/readme 0644 r
`

func TestFromDiff(t *testing.T) {
	tests := []struct {
		name  string
		upper string // ops applied to a copy of fdBase
		want  []string
	}{
		{name: "identical", upper: ``, want: nil},
		{name: "mtimes only", upper: "touch etc/hostname 12345\ntouch etc 999", want: nil},
		{name: "added file", upper: "f etc/motd 0644 hi", want: []string{"file etc/motd 0644"}},
		{name: "changed content", upper: "f etc/hostname 0644 other", want: []string{"file etc/hostname 0644"}},
		{name: "changed mode", upper: "chmod etc/passwd 0600", want: []string{"file etc/passwd 0600"}},
		{name: "setuid", upper: "chmod usr/bin/busybox 4755", want: []string{"file usr/bin/busybox 4755"}},
		{name: "directory mode", upper: "chmod var/lib 0700", want: []string{"dir var/lib 0700"}},
		{name: "deleted file", upper: "rm etc/passwd", want: []string{"whiteout etc/passwd"}},
		{name: "deleted directory", upper: "rm opt/tool", want: []string{"whiteout opt/tool"}},
		{
			name:  "emptied directory is opaque",
			upper: "rm var/cache/apt/a.bin\nrm var/cache/apt/b.bin",
			want:  []string{"opaque var/cache/apt"},
		},
		{
			name:  "replaced directory is opaque",
			upper: "rm var/cache/apt\nd var/cache/apt 0755\nf var/cache/apt/new 0644 n",
			want:  []string{"opaque var/cache/apt", "file var/cache/apt/new 0644"},
		},
		{
			name:  "one child survives: whiteouts",
			upper: "rm var/cache/apt/a.bin\nf var/cache/apt/c.bin 0644 c",
			want:  []string{"whiteout var/cache/apt/a.bin", "file var/cache/apt/c.bin 0644"},
		},
		{
			name:  "directory becomes a file",
			upper: "rm opt/tool\nf opt/tool 0755 now a file",
			want:  []string{"file opt/tool 0755"},
		},
		{
			name:  "file becomes a directory",
			upper: "rm etc/hostname\nd etc/hostname 0755\nf etc/hostname/x 0644 x",
			want:  []string{"dir etc/hostname 0755", "file etc/hostname/x 0644"},
		},
		{name: "symlink retargeted", upper: "rm usr/bin/sh\nl usr/bin/sh ../../bin/dash", want: []string{"symlink usr/bin/sh -> ../../bin/dash"}},
		{name: "symlink becomes a file", upper: "rm usr/bin/sh\nf usr/bin/sh 0755 sh", want: []string{"file usr/bin/sh 0755"}},
		{name: "fifo", upper: "p run/initctl", want: []string{"dir run 0755", "fifo run/initctl"}},
		{
			name:  "new hard link to an unchanged file",
			upper: "h usr/bin/app2 usr/bin/app",
			want:  []string{"file usr/bin/app 0755", "hardlink usr/bin/app-link -> usr/bin/app", "hardlink usr/bin/app2 -> usr/bin/app"},
		},
		{
			name:  "hard linked file changed",
			upper: "rm usr/bin/app\nrm usr/bin/app-link\nf usr/bin/app 0755 app v2\nh usr/bin/app-link usr/bin/app",
			want:  []string{"file usr/bin/app 0755", "hardlink usr/bin/app-link -> usr/bin/app"},
		},
		{
			name:  "hard link broken into copies",
			upper: "rm usr/bin/app-link\nf usr/bin/app-link 0755 app v1",
			want:  []string{"file usr/bin/app 0755", "file usr/bin/app-link 0755"},
		},
		{
			name:  "one link deleted",
			upper: "rm usr/bin/app-link",
			want:  []string{"whiteout usr/bin/app-link"},
		},
		{
			name:  "deep additions under a new directory",
			upper: "d srv/www/html 0750\nf srv/www/html/index.html 0644 <h1>",
			want:  []string{"dir srv 0755", "dir srv/www 0755", "dir srv/www/html 0750", "file srv/www/html/index.html 0644"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lower := t.TempDir()
			fdApply(t, lower, fdBase)
			upper := filepath.Join(t.TempDir(), "upper")
			fdCopy(t, lower, upper)
			fdApply(t, upper, tc.upper)
			_, _, changes := fdRoundTrip(t, lower, upper)
			var got []string
			for _, e := range changes {
				got = append(got, fdString(e))
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("changeset (-want +got):\n%s", d)
			}
		})
	}
}

// TestFromDiffUmoci applies LOWER and the changeset with umoci too: the
// rootfs must be exactly UPPER.
func TestFromDiffUmoci(t *testing.T) {
	lower := t.TempDir()
	fdApply(t, lower, fdBase)
	upper := filepath.Join(t.TempDir(), "upper")
	fdCopy(t, lower, upper)
	fdApply(t, upper, `
f etc/motd 0644 hi
f etc/hostname 0644 other
chmod etc/passwd 0600
rm opt/tool
rm var/cache/apt/a.bin
rm var/cache/apt/b.bin
rm usr/bin/sh
l usr/bin/sh ../../bin/dash
h usr/bin/app2 usr/bin/app
rm var/lib
f var/lib 0644 not a dir
d srv/www 0750
f srv/www/index.html 0644 <h1>
chmod usr/bin/busybox 4755
`)
	base, top, _ := fdRoundTrip(t, lower, upper)
	rootfs := checkers.UmociUnpack(t, fdLayout(t, base, top), "test")
	if d := checkers.DiffTrees(checkers.Tree(t, upper), checkers.Tree(t, rootfs)); d != "" {
		t.Errorf("LOWER + changeset, unpacked by umoci (-upper +got):\n%s", d)
	}
	if d := cmp.Diff(fdLinkGroups(t, upper), fdLinkGroups(t, rootfs)); d != "" {
		t.Errorf("hard link groups under umoci (-upper +got):\n%s", d)
	}
}

func TestFromDiffOptions(t *testing.T) {
	lower := t.TempDir()
	fdApply(t, lower, "f a 0644 a\nf b 0644 b")
	upper := filepath.Join(t.TempDir(), "upper")
	fdCopy(t, lower, upper)
	fdApply(t, upper, "touch a 86400")
	if err := os.Lchown(filepath.Join(upper, "b"), 1000, 1000); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	got, err := layer.FromDiff(lower, upper, layer.FromDiffOptions{})
	if err != nil || len(got) != 0 {
		t.Fatalf("default options: %v, %v; want no change", fdList(got), err)
	}
	got, err = layer.FromDiff(lower, upper, layer.FromDiffOptions{PreserveModTimes: true})
	if err != nil || len(got) != 1 || got[0].Path != "a" || got[0].ModTime.Unix() != 86400 {
		t.Errorf("PreserveModTimes: %v, %v; want a with mtime 86400", fdList(got), err)
	}
	if os.Geteuid() == 0 {
		got, err = layer.FromDiff(lower, upper, layer.FromDiffOptions{PreserveOwners: true})
		if err != nil || len(got) != 1 || got[0].Path != "b" || got[0].UID != 1000 || got[0].GID != 1000 {
			t.Errorf("PreserveOwners: %v, %v; want b owned by 1000:1000", fdList(got), err)
		}
	}
}

func TestFromDiffErrors(t *testing.T) {
	lower := t.TempDir()
	upper := t.TempDir()
	fdApply(t, upper, "f .wh.sneaky 0644 x")
	entries, err := layer.FromDiff(lower, upper, layer.FromDiffOptions{})
	if err == nil {
		_, err = layer.NewSpec(entries, layer.SpecOptions{})
	}
	if !errors.Is(err, layer.ErrUnsafePath) {
		t.Errorf("a .wh. name in UPPER: %v, want ErrUnsafePath", err)
	}
	if _, err := layer.FromDiff(lower, filepath.Join(upper, "missing"), layer.FromDiffOptions{}); !errors.Is(err, layer.ErrBadSource) {
		t.Errorf("missing UPPER: %v, want ErrBadSource", err)
	}
}

// FuzzFromDiff generates LOWER and UPPER from the input (a small program
// of tree operations over a few names) and checks the round trip.
func FuzzFromDiff(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{4, 1, 9, 2, 5})
	f.Add([]byte{1, 0, 13, 1, 22, 3}, []byte{3, 0, 3, 4, 7, 1})
	f.Add([]byte("\x00\x03\x01\x04\x02\x05"), []byte("\x04\x00\x00\x03\x06\x07\x08"))
	f.Fuzz(func(t *testing.T, lowerOps, upperOps []byte) {
		if len(lowerOps) > 64 || len(upperOps) > 64 {
			return
		}
		lower := filepath.Join(t.TempDir(), "lower")
		os.Mkdir(lower, 0o755)
		fdGenerate(lower, lowerOps)
		upper := filepath.Join(t.TempDir(), "upper")
		fdCopy(t, lower, upper)
		fdGenerate(upper, upperOps)
		fdRoundTrip(t, lower, upper)
	})
}

// fdGenerate interprets ops three bytes at a time: operation, path, and an
// argument (content, mode, target), ignoring operations that fail.
func fdGenerate(root string, ops []byte) {
	paths := []string{"a", "b", "c", "a/a", "a/b", "b/a", "b/b", "c/a", "a/a/a", "a/a/b", "a/b/a", "b/a/a"}
	fileModes := []string{"0644", "0600", "0755", "4755", "0444", "0400", "2755", "0640"}
	if os.Geteuid() == 0 {
		fileModes[5] = "0000" // unreadable, except to root
	}
	dirModes := []string{"0755", "0700", "0775", "1777"}
	targets := []string{"a", "../b", "/c", "a/a", "..", "nowhere"}
	for i := 0; i+2 < len(ops); i += 3 {
		p, arg := paths[int(ops[i+1])%len(paths)], int(ops[i+2])
		var op []string
		switch ops[i] % 8 {
		case 0:
			op = []string{"d", p, dirModes[arg%len(dirModes)]}
		case 1, 2:
			op = []string{"f", p, fileModes[arg%len(fileModes)], fmt.Sprint("content-", arg%5)}
		case 3:
			op = []string{"l", p, targets[arg%len(targets)]}
		case 4:
			op = []string{"h", p, paths[arg%len(paths)]}
			if fi, err := os.Lstat(filepath.Join(root, op[2])); err != nil || !fi.Mode().IsRegular() {
				continue
			}
		case 5:
			op = []string{"rm", p}
		case 6:
			op = []string{"chmod", p, fileModes[arg%len(fileModes)]}
			if fi, err := os.Lstat(filepath.Join(root, p)); err != nil || !fi.Mode().IsRegular() {
				continue
			}
		case 7:
			op = []string{"p", p}
		}
		if fi, err := os.Lstat(filepath.Join(root, p)); err == nil && op[0] != "rm" && op[0] != "chmod" {
			if fi.IsDir() && op[0] == "d" {
				os.Chmod(filepath.Join(root, p), 0o755)
			} else {
				os.RemoveAll(filepath.Join(root, p))
			}
		}
		_ = fdOp(root, op)
	}
	// Every directory mode above keeps owner rwx, so that the trees can be
	// removed when the test is not root.
}
