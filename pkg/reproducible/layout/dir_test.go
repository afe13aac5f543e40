package layout_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

func indexJSON(m ocispec.Descriptor, ref string) string {
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s","digest":"%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}`, m.MediaType, m.Digest, m.Size, ref)
}

func TestWriteDir(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 1, 1000, 2000, 3000)
	dst := filepath.Join(t.TempDir(), "a", "b", "out")
	if err := layout.WriteDir(context.Background(), dst, fx.layout("v1")); err != nil {
		t.Fatal(err)
	}
	idx := indexJSON(fx.img.Manifest.Descriptor, "v1")
	if diff := cmp.Diff(wantTree(fx.blobs(), idx), tree(t, dst)); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "index.json")); string(b) != idx {
		t.Errorf("index.json = %s\nwant %s", b, idx)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode() != os.ModeDir|0o755 {
		t.Errorf("layout directory: %v, %v; want mode 0755", fi.Mode(), err)
	}
	if got := names(t, filepath.Dir(dst)); !cmp.Equal(got, []string{"out"}) {
		t.Errorf("beside the output: %q, want only out", got)
	}
	// It reads back as the same image.
	src, err := layout.Open(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Format != layout.FormatDir {
		t.Errorf("Format = %q", src.Format)
	}
	root, err := src.FindRef("v1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Resolve(context.Background(), src, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fx.img, img); diff != "" {
		t.Errorf("resolved image (-want +got):\n%s", diff)
	}
}

// TestWriteDirLinks: blobs from files are hard links to them, trusted or not.
func TestWriteDirLinks(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 2, 100, 200)
	l := layout.New()
	l.AddImage(fx.img)
	l.AddFile(fx.layers[0].desc, fx.layers[0].path)
	l.AddUntrustedFile(fx.layers[1].desc, fx.layers[1].path)
	l.Tag(fx.img.Manifest.Descriptor, "")
	dst := filepath.Join(t.TempDir(), "out")
	if err := layout.WriteDir(context.Background(), dst, l); err != nil {
		t.Fatal(err)
	}
	for _, lf := range fx.layers {
		src, err := os.Stat(lf.path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.Stat(layout.Dir(dst).BlobPath(lf.desc.Digest))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(src, got) {
			t.Errorf("%s: not a hard link to %s", lf.desc.Digest, lf.path)
		}
	}
	// Bytes are written as new files.
	fi, _ := os.Stat(layout.Dir(dst).BlobPath(fx.img.Config.Descriptor.Digest))
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Nlink != 1 {
		t.Errorf("config blob: %v links, want 1", fi.Sys())
	}
}

// TestWriteDirSymlinkedSources: a Bazel sandbox stages every input as a
// symlink; the layout must hold a hard link to the file behind it, never the
// symlink itself nor a copy.
func TestWriteDirSymlinkedSources(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 2, 100, 200)
	staged := t.TempDir()
	l := layout.New()
	l.AddImage(fx.img)
	for i, lf := range fx.layers {
		link := filepath.Join(staged, fmt.Sprintf("layer%d", i))
		if err := os.Symlink(lf.path, link); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			l.AddFile(lf.desc, link)
		} else {
			l.AddUntrustedFile(lf.desc, link)
		}
	}
	l.Tag(fx.img.Manifest.Descriptor, "")
	dst := filepath.Join(t.TempDir(), "out")
	if err := layout.WriteDir(context.Background(), dst, l); err != nil {
		t.Fatal(err)
	}
	for _, lf := range fx.layers {
		p := layout.Dir(dst).BlobPath(lf.desc.Digest)
		lfi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !lfi.Mode().IsRegular() {
			t.Errorf("%s: %v in the layout, want a regular file", lf.desc.Digest, lfi.Mode())
		}
		src, err := os.Stat(lf.path)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(src, lfi) {
			t.Errorf("%s: not a hard link to %s (the file behind the symlink)", lf.desc.Digest, lf.path)
		}
	}
}

// TestWriteDirBadBlob: a blob that does not match its descriptor fails the
// write and leaves nothing behind: no output, no temporary directory.
func TestWriteDirBadBlob(t *testing.T) {
	tests := []struct {
		name    string
		add     func(l *layout.Layout, lf layerFile, corrupt string)
		corrupt func([]byte) []byte
		wantIs  error
	}{
		{
			name:    "untrusted file, one bit flipped",
			add:     func(l *layout.Layout, lf layerFile, p string) { l.AddUntrustedFile(lf.desc, p) },
			corrupt: func(b []byte) []byte { b[10] ^= 1; return b },
			wantIs:  blob.ErrDigestMismatch,
		},
		{
			name:    "untrusted file, truncated",
			add:     func(l *layout.Layout, lf layerFile, p string) { l.AddUntrustedFile(lf.desc, p) },
			corrupt: func(b []byte) []byte { return b[:len(b)-1] },
			wantIs:  blob.ErrSizeMismatch,
		},
		{
			name:    "trusted file of the wrong size",
			add:     func(l *layout.Layout, lf layerFile, p string) { l.AddFile(lf.desc, p) },
			corrupt: func(b []byte) []byte { return append(b, 0) },
			wantIs:  blob.ErrSizeMismatch,
		},
		{
			name: "bytes",
			add: func(l *layout.Layout, lf layerFile, p string) {
				b, _ := os.ReadFile(p)
				l.AddBlob(image.Blob{Descriptor: lf.desc, Data: b})
			},
			corrupt: func(b []byte) []byte { b[0] ^= 1; return b },
			wantIs:  blob.ErrDigestMismatch,
		},
		{
			name: "fetched",
			add: func(l *layout.Layout, lf layerFile, p string) {
				b, _ := os.ReadFile(p)
				l.AddFetched(lf.desc, rawFetcher{lf.desc.Digest: b})
			},
			corrupt: func(b []byte) []byte { b[0] ^= 1; return b },
			wantIs:  blob.ErrDigestMismatch,
		},
		{
			name:    "missing file",
			add:     func(l *layout.Layout, lf layerFile, p string) { l.AddUntrustedFile(lf.desc, p+".missing") },
			corrupt: func(b []byte) []byte { return b },
			wantIs:  os.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, t.TempDir(), 3, 1000, 500)
			corrupt := writeFile(t, filepath.Join(t.TempDir(), "corrupt"), tt.corrupt(append([]byte(nil), fx.layers[1].data...)))
			l := layout.New()
			l.AddImage(fx.img)
			l.AddFile(fx.layers[0].desc, fx.layers[0].path)
			tt.add(l, fx.layers[1], corrupt)
			l.Tag(fx.img.Manifest.Descriptor, "v1")
			parent := t.TempDir()
			dst := filepath.Join(parent, "out")
			err := layout.WriteDir(context.Background(), dst, l)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("WriteDir error %v, want one wrapping %v", err, tt.wantIs)
			}
			if got := names(t, parent); len(got) != 0 {
				t.Errorf("left behind: %q", got)
			}
			// An existing output is left as it was.
			writeFile(t, filepath.Join(parent, "keep"), []byte("x"))
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dst, "old"), []byte("old"))
			if err := layout.WriteDir(context.Background(), dst, l); err == nil {
				t.Fatal("second WriteDir succeeded")
			}
			if got := names(t, parent); !cmp.Equal(got, []string{"keep", "out"}) {
				t.Errorf("after a failed replace: %q", got)
			}
			if got := names(t, dst); !cmp.Equal(got, []string{"old"}) {
				t.Errorf("the old output changed: %q", got)
			}
		})
	}
}

// TestWriteDirReplace: an existing dst (the empty directory Bazel declares,
// a previous layout, a file) is replaced whole.
func TestWriteDirReplace(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 4, 100)
	old := newFixture(t, t.TempDir(), 5, 300)
	tests := []struct {
		name  string
		setup func(t *testing.T, dst string)
	}{
		{"nothing", func(t *testing.T, dst string) {}},
		{"an empty directory", func(t *testing.T, dst string) {
			if err := os.Mkdir(dst, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"a previous layout", func(t *testing.T, dst string) {
			if err := layout.WriteDir(context.Background(), dst, old.layout("old")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dst, "stray"), []byte("x"))
		}},
		{"the same layout", func(t *testing.T, dst string) {
			if err := layout.WriteDir(context.Background(), dst, fx.layout("v1")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a file", func(t *testing.T, dst string) { writeFile(t, dst, []byte("x")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "out")
			tt.setup(t, dst)
			if err := layout.WriteDir(context.Background(), dst, fx.layout("v1")); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantTree(fx.blobs(), indexJSON(fx.img.Manifest.Descriptor, "v1")), tree(t, dst)); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
			if got := names(t, parent); !cmp.Equal(got, []string{"out"}) {
				t.Errorf("beside the output: %q, want only out", got)
			}
		})
	}
}

// TestWriteDirCopyAcrossFileSystems exercises the fallback when a hard link
// is impossible (EXDEV): blobs on /dev/shm (tmpfs) linked into a layout on
// the test's temporary directory. The copy is verified, even for a trusted
// file, since its bytes are read anyway.
func TestWriteDirCopyAcrossFileSystems(t *testing.T) {
	// CI's machines have /dev/shm on tmpfs; elsewhere the check may be
	// impossible, but in CI it must never quietly not run.
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	shm, err := os.MkdirTemp("/dev/shm", "layout-test-")
	if err != nil {
		skip("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	out := t.TempDir()
	var a, b syscall.Stat_t
	if syscall.Stat(shm, &a) != nil || syscall.Stat(out, &b) != nil || a.Dev == b.Dev {
		skip("%s and %s are on one file system", shm, out)
	}
	fx := newFixture(t, shm, 6, 5000, 7000)
	l := layout.New()
	l.AddImage(fx.img)
	l.AddFile(fx.layers[0].desc, fx.layers[0].path)
	l.AddUntrustedFile(fx.layers[1].desc, fx.layers[1].path)
	l.Tag(fx.img.Manifest.Descriptor, "v1")
	dst := filepath.Join(out, "layout")
	if err := os.Link(fx.layers[0].path, filepath.Join(out, "probe")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("link across file systems: %v, want EXDEV", err)
	}
	os.Remove(filepath.Join(out, "probe"))
	if err := layout.WriteDir(context.Background(), dst, l); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantTree(fx.blobs(), indexJSON(fx.img.Manifest.Descriptor, "v1")), tree(t, dst)); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	for _, lf := range fx.layers {
		src, _ := os.Stat(lf.path)
		got, _ := os.Stat(layout.Dir(dst).BlobPath(lf.desc.Digest))
		if os.SameFile(src, got) {
			t.Errorf("%s: same file across file systems?", lf.desc.Digest)
		}
	}

	// A trusted file is not read when it is linked, but it is when copied,
	// and then a corrupted one is refused.
	b0 := append([]byte(nil), fx.layers[0].data...)
	b0[0] ^= 1
	writeFile(t, fx.layers[0].path, b0)
	dst2 := filepath.Join(out, "layout2")
	err = layout.WriteDir(context.Background(), dst2, fx.layout("v1"))
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("copying a corrupted trusted file: %v, want a digest mismatch", err)
	}
	if !strings.Contains(err.Error(), fx.layers[0].path) {
		t.Errorf("error %q does not name the file", err)
	}
	if got := names(t, out); !cmp.Equal(got, []string{"layout"}) {
		t.Errorf("left behind: %q", got)
	}
}

// TestWriteDirUmask: modes do not depend on the umask.
func TestWriteDirUmask(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 7, 100)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dst := filepath.Join(t.TempDir(), "out")
	if err := layout.WriteDir(context.Background(), dst, fx.layout("v1")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantTree(fx.blobs(), indexJSON(fx.img.Manifest.Descriptor, "v1")), tree(t, dst)); diff != "" {
		t.Errorf("layout under umask 077 (-want +got):\n%s", diff)
	}
}

func TestWriteDirErrors(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 8, 100)
	hostile := fx.layers[0].desc
	hostile.Digest = "sha256:../../../escaped"
	tests := []struct {
		name    string
		layout  func() *layout.Layout
		ctx     func() context.Context
		wantIs  error
		wantErr string
	}{
		{
			name: "index.json names a missing blob",
			layout: func() *layout.Layout {
				l := layout.New()
				l.AddBlob(fx.img.Config)
				l.Tag(fx.img.Manifest.Descriptor, "v1")
				return l
			},
			wantIs:  blob.ErrNotFound,
			wantErr: "index.json manifests[0]: " + fx.img.Manifest.Descriptor.Digest.String(),
		},
		{
			name: "a digest that is a path",
			layout: func() *layout.Layout {
				l := fx.layout("v1")
				l.AddFile(hostile, fx.layers[0].path)
				return l
			},
			wantErr: "sha256:../../../escaped",
		},
		{
			name: "a digest of an unknown algorithm",
			layout: func() *layout.Layout {
				l := fx.layout("v1")
				l.AddBlob(image.Blob{Descriptor: ocispec.Descriptor{MediaType: "x", Digest: "md5:d41d8cd98f00b204e9800998ecf8427e"}})
				return l
			},
			wantErr: "md5",
		},
		{
			name:   "cancelled",
			layout: func() *layout.Layout { return fx.layout("v1") },
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantIs: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			root := t.TempDir()
			parent := filepath.Join(root, "a", "b", "c")
			dst := filepath.Join(parent, "out")
			err := layout.WriteDir(ctx, dst, tt.layout())
			if err == nil {
				t.Fatal("WriteDir succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			// Nothing anywhere under root but (at most) the parents.
			for p := range tree(t, root) {
				if p != "a" && p != "a/b" && p != "a/b/c" {
					t.Errorf("left behind: %s", p)
				}
			}
			// Also for an archive.
			if err := layout.WriteArchive(ctx, filepath.Join(root, "out.tar"), tt.layout()); err == nil {
				t.Errorf("WriteArchive succeeded")
			}
			for p := range tree(t, root) {
				if p != "a" && p != "a/b" && p != "a/b/c" {
					t.Errorf("left behind by WriteArchive: %s", p)
				}
			}
		})
	}
}

// TestDirStore: Dir is a blob.Store whose reads are verified.
func TestDirStore(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	fx := newFixture(t, t.TempDir(), 9, 100)
	if err := layout.WriteDir(ctx, dir, fx.layout("v1")); err != nil {
		t.Fatal(err)
	}
	d, err := layout.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("pushed")
	desc := ocispec.Descriptor{MediaType: "text/plain", Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := d.Push(ctx, desc, strings.NewReader("pushed")); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Exists(ctx, desc); !ok || err != nil {
		t.Errorf("Exists after Push = %v, %v", ok, err)
	}
	bad := desc
	bad.Digest = digest.FromString("other")
	if err := d.Push(ctx, bad, strings.NewReader("pushed")); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Errorf("Push of wrong bytes: %v", err)
	}
	if ok, _ := d.Exists(ctx, bad); ok {
		t.Errorf("a refused push left a blob")
	}
	if _, err := d.Fetch(ctx, bad); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Fetch of a missing blob: %v", err)
	}
	// Corrupt a blob on disk: Fetch fails at EOF.
	p := d.BlobPath(fx.layers[0].desc.Digest)
	os.Remove(p)
	b := append([]byte(nil), fx.layers[0].data...)
	b[3] ^= 1
	writeFile(t, p, b)
	rc, err := d.Fetch(ctx, fx.layers[0].desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := blob.Verify(rc, fx.layers[0].desc); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Errorf("reading a corrupted blob: %v", err)
	}
	if _, err := d.Exists(ctx, ocispec.Descriptor{Digest: "sha256:../../../etc/passwd"}); err == nil {
		t.Errorf("Exists accepted a digest that is a path")
	}

	for _, tt := range []struct{ name, content, wantErr string }{
		{"no oci-layout", "", "not an OCI image layout"},
		{"another version", `{"imageLayoutVersion":"2.0.0"}`, `want imageLayoutVersion "1.0.0"`},
		{"not JSON", `{`, `want imageLayoutVersion "1.0.0"`},
	} {
		dir := t.TempDir()
		if tt.content != "" {
			writeFile(t, filepath.Join(dir, "oci-layout"), []byte(tt.content))
		}
		if _, err := layout.OpenDir(dir); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: OpenDir error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestWriteDirCheapestSource: a blob added several ways is written the
// cheapest way known, whatever the order: a link rather than a copy.
func TestWriteDirCheapestSource(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 14, 1000)
	lf := fx.layers[0]
	store := rawFetcher{lf.desc.Digest: lf.data}
	for name, add := range map[string]func(l *layout.Layout){
		"untrusted file, then fetched": func(l *layout.Layout) {
			l.AddUntrustedFile(lf.desc, lf.path)
			l.AddFetched(lf.desc, store)
		},
		"fetched, then untrusted file": func(l *layout.Layout) {
			l.AddFetched(lf.desc, store)
			l.AddUntrustedFile(lf.desc, lf.path)
		},
		"bytes, then file": func(l *layout.Layout) {
			l.AddBlob(image.Blob{Descriptor: lf.desc, Data: lf.data})
			l.AddFile(lf.desc, lf.path)
		},
		"file, then bytes and fetched": func(l *layout.Layout) {
			l.AddFile(lf.desc, lf.path)
			l.AddBlob(image.Blob{Descriptor: lf.desc, Data: lf.data})
			l.AddFetched(lf.desc, store)
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := layout.New()
			l.AddImage(fx.img)
			add(l)
			l.Tag(fx.img.Manifest.Descriptor, "v1")
			dst := filepath.Join(t.TempDir(), "out")
			if err := layout.WriteDir(context.Background(), dst, l); err != nil {
				t.Fatal(err)
			}
			a, _ := os.Stat(lf.path)
			b, _ := os.Stat(layout.Dir(dst).BlobPath(lf.desc.Digest))
			if !os.SameFile(a, b) {
				t.Errorf("blob copied, not linked")
			}
		})
	}
}
