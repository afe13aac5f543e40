package layer_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// goldenListing is the golden layer as `tar --numeric-owner --full-time -tvf`
// prints it (with TZ=UTC), spaces squeezed: names, types, modes, owners,
// sizes, mtimes and link targets, as third-party readers must see them.
const goldenListing = `
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 etc/
---------- 0/0 0 1970-01-01 00:00:00 etc/.wh.removed
-rw-r--r-- 0/0 12 1970-01-01 00:00:00 etc/app.conf
-rw------- 0/0 6 1970-01-01 00:00:00 etc/bin.dat
-rw-r--r-- 1000/1000 6 2024-01-02 03:04:05 etc/motd
-rw-r--r-- 0/0 2 1970-01-01 00:00:00 etc/xattr.conf
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/deeper-directory/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/deeper-directory/deeper-directory/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/deeper-directory/deeper-directory/deeper-directory/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/deeper-directory/deeper-directory/deeper-directory/deeper-directory/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/deeper-directory/deeper-directory/deeper-directory/deeper-directory/deeper-directory/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/deeper-directory/deeper-directory/deeper-directory/deeper-directory/deeper-directory/deeper-directory/
-rw-r--r-- 0/0 5 1970-01-01 00:00:00 opt/deeper-directory/deeper-directory/deeper-directory/deeper-directory/deeper-directory/deeper-directory/file
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/long/
-rw-r--r-- 0/0 5 1970-01-01 00:00:00 opt/long/long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-end
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/tree/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/tree/a/
-rw-r--r-- 0/0 2 1970-01-01 00:00:00 opt/tree/a/b.txt
lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 opt/tree/a/up -> ../c.txt
-rw------- 5/0 2 1970-01-01 00:00:00 opt/tree/c.txt
lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 opt/tree/link -> c.txt
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/tree/m/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/tree/m/empty/
-rwxr-xr-x 0/0 10 1970-01-01 00:00:00 opt/tree/run.sh
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/tree/z/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/tree/z/y/
-rw-r--r-- 0/0 2 1970-01-01 00:00:00 opt/tree/z/y/x.txt
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/ünïcødé/
-rw-r--r-- 0/0 16 1970-01-01 00:00:00 opt/ünïcødé/日本語.txt
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 srv/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 srv/fromtar/
drwx--x--x 0/0 0 1970-01-01 00:00:00 srv/fromtar/bin/
-rwxr-xr-x 0/0 12 1970-01-01 00:00:00 srv/fromtar/bin/busybox
lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 srv/fromtar/bin/sh -> busybox
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 srv/fromtar/etc/
-rw-r--r-- 0/0 20 1970-01-01 00:00:00 srv/fromtar/etc/hosts
hrw-r--r-- 0/0 0 1970-01-01 00:00:00 srv/fromtar/etc/hosts.bak link to srv/fromtar/etc/hosts
-rw-r----- 0/42 19 1970-01-01 00:00:00 srv/fromtar/etc/shadow
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 srv/fromtar/home/
drwxr-x--- 1000/1000 0 1970-01-01 00:00:00 srv/fromtar/home/user/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 srv/fromtar/var/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 srv/fromtar/var/lib/
---------- 0/0 0 1970-01-01 00:00:00 srv/fromtar/var/lib/.wh.stale
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 srv/fromtgz/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 srv/fromtgz/share/
drwxr-xr-x 2/2 0 2020-02-02 02:02:02 srv/fromtgz/share/doc/
-r--r--r-- 2/2 8 2021-03-04 05:06:07 srv/fromtgz/share/doc/README
-rw-r--r-- 0/0 4 2020-02-02 02:02:02 srv/fromtgz/share/long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-end
drwxrwxrwt 0/0 0 1970-01-01 00:00:00 tmp/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/
lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 usr/bin/abs-link -> /usr/bin/app
-rwxr-xr-x 0/0 19 1970-01-01 00:00:00 usr/bin/app
hrwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/app-hard link to usr/bin/app
lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 usr/bin/app-link -> app
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/share/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/share/same/
-rw-r--r-- 0/0 11 1970-01-01 00:00:00 usr/share/same/a.txt
hrw-r--r-- 0/0 0 1970-01-01 00:00:00 usr/share/same/b.txt link to usr/share/same/a.txt
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 var/
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 var/cache/
---------- 0/0 0 1970-01-01 00:00:00 var/cache/.wh..wh..opq
drwx------ 65534/65534 0 1970-01-01 00:00:00 var/empty/
`

// The owner names that are set; every other entry has none.
var goldenNames = map[string]string{
	"etc/motd":                     "app/app",
	"srv/fromtgz/share/doc":        "bin/bin",
	"srv/fromtgz/share/doc/README": "bin/bin",
}

// The xattrs of the golden layer, as SCHILY.xattr PAX records.
var goldenXattrs = map[string]map[string]string{
	"etc/xattr.conf":         {"SCHILY.xattr.user.b": "2", "SCHILY.xattr.user.comment": "golden"},
	"srv/fromtar/etc/shadow": {"SCHILY.xattr.user.tar": "from-tar"},
}

var spaces = regexp.MustCompile(` +`)

// buildGoldenFiles writes the golden layer with each compression into dir.
func buildGoldenFiles(t *testing.T, dir string) map[reproducible.Algorithm]string {
	t.Helper()
	s, err := loadSpec(t, writeGoldenInputs(t, t.TempDir(), sourceOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	out := map[reproducible.Algorithm]string{}
	for _, alg := range algorithms {
		blob, _ := build(t, s, alg)
		p := filepath.Join(dir, "layer."+string(alg))
		if err := os.WriteFile(p, blob, 0o644); err != nil {
			t.Fatal(err)
		}
		out[alg] = p
	}
	return out
}

func run(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C.UTF-8")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("%s wrote to stderr:\n%s", strings.Join(cmd.Args, " "), stderr.Bytes())
	}
	return out
}

// TestGNUTar lists the golden layer with GNU tar and extracts it: names over
// 100 bytes and non-ASCII names must survive.
func TestGNUTar(t *testing.T) {
	tarBin := needTool(t, "tar")
	if v := run(t, exec.Command(tarBin, "--version")); !bytes.Contains(v, []byte("GNU tar")) {
		t.Fatalf("%s is not GNU tar: %s", tarBin, v)
	}
	dir := t.TempDir()
	files := buildGoldenFiles(t, dir)
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			args := []string{"--numeric-owner", "--full-time", "--quoting-style=literal", "-tvf", files[alg]}
			switch alg {
			case reproducible.Gzip:
				args = append([]string{"--gzip"}, args...)
			case reproducible.Zstd:
				args = append([]string{"--zstd"}, args...)
			}
			got := spaces.ReplaceAllString(string(run(t, exec.Command(tarBin, args...))), " ")
			if diff := cmp.Diff(strings.TrimPrefix(goldenListing, "\n"), got); diff != "" {
				t.Errorf("tar -tv (-want +got):\n%s", diff)
			}
		})
	}
	x := filepath.Join(dir, "x")
	mkdir(t, x)
	run(t, exec.Command(tarBin, "--no-same-owner", "-xf", files[reproducible.None], "-C", x))
	for name, want := range map[string]string{
		"opt/long/" + longName:          "long\n",
		deepPath:                        "deep\n",
		"opt/ünïcødé/日本語.txt":           "こんにちは\n",
		"srv/fromtgz/share/" + longName: "gnu\n",
		"usr/share/same/b.txt":          "same bytes\n",
		"usr/bin/app-hard":              "#!/bin/sh\necho app\n",
	} {
		b, err := os.ReadFile(filepath.Join(x, name))
		if err != nil || string(b) != want {
			t.Errorf("extracted %s: %q, %v; want %q", name, b, err, want)
		}
	}
}

// pythonLister prints each member as JSON with its fields as tarfile sees
// them, and the line tar -tv would print.
const pythonLister = `
import json, stat, sys, tarfile, time
with tarfile.open(sys.argv[1]) as tf:
    for m in tf:
        bits = stat.S_IFDIR if m.isdir() else stat.S_IFLNK if m.issym() else stat.S_IFREG
        mode = stat.filemode(m.mode | bits)
        name = m.name + "/" if m.isdir() else m.name
        line = "%s %d/%d %d %s %s" % ("h" + mode[1:] if m.islnk() else mode, m.uid, m.gid, m.size,
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m.mtime)), name)
        if m.issym():
            line += " -> " + m.linkname
        if m.islnk():
            line += " link to " + m.linkname
        print(json.dumps({"line": line, "name": m.name, "names": m.uname + "/" + m.gname,
            "pax": {k: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.")}}, ensure_ascii=False))
`

// TestPythonTarfile reads the golden layer with Python's tarfile.
func TestPythonTarfile(t *testing.T) {
	python := needTool(t, "python3")
	files := buildGoldenFiles(t, t.TempDir())
	for _, alg := range []reproducible.Algorithm{reproducible.None, reproducible.Gzip} {
		t.Run(string(alg), func(t *testing.T) {
			out := run(t, exec.Command(python, "-c", pythonLister, files[alg]))
			var lines []string
			names := map[string]string{}
			xattrs := map[string]map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				var m struct {
					Line, Name, Names string
					Pax               map[string]string
				}
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("%v: %s", err, l)
				}
				lines = append(lines, m.Line)
				if m.Names != "/" {
					names[m.Name] = m.Names
				}
				if len(m.Pax) > 0 {
					xattrs[m.Name] = m.Pax
				}
			}
			if diff := cmp.Diff(strings.TrimPrefix(goldenListing, "\n"), strings.Join(lines, "\n")+"\n"); diff != "" {
				t.Errorf("tarfile listing (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(goldenNames, names); diff != "" {
				t.Errorf("uname/gname (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(goldenXattrs, xattrs); diff != "" {
				t.Errorf("xattrs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSystemDecompressors decompresses the blobs with gzip(1) and zstd(1):
// the result must be the tar whose sha256 is the DiffID.
func TestSystemDecompressors(t *testing.T) {
	s, err := loadSpec(t, writeGoldenInputs(t, t.TempDir(), sourceOptions{bigFile: 3 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := build(t, s, reproducible.None)
	for _, tt := range []struct {
		alg  reproducible.Algorithm
		tool string
	}{{reproducible.Gzip, "gzip"}, {reproducible.Zstd, "zstd"}} {
		t.Run(tt.tool, func(t *testing.T) {
			blob, m := build(t, s, tt.alg)
			cmd := exec.Command(needTool(t, tt.tool), "-d", "-c")
			cmd.Stdin = bytes.NewReader(blob)
			out := run(t, cmd)
			sum := sha256.Sum256(out)
			if got := "sha256:" + hex.EncodeToString(sum[:]); got != m.DiffID.String() {
				t.Errorf("%s -dc: sha256 %s, want the DiffID %s", tt.tool, got, m.DiffID)
			}
			if int64(len(out)) != m.UncompressedSize || !bytes.Equal(out, plain) {
				t.Errorf("%s -dc: %d bytes, not the %d-byte plain layer", tt.tool, len(out), len(plain))
			}
			if d := sha256.Sum256(blob); "sha256:"+hex.EncodeToString(d[:]) != m.Descriptor.Digest.String() || int64(len(blob)) != m.Descriptor.Size {
				t.Errorf("descriptor %s size %d does not describe the blob", m.Descriptor.Digest, m.Descriptor.Size)
			}
		})
	}
}
