package layout_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// archiveEntry is what a test checks of a tar member.
type archiveEntry struct {
	Name     string
	Typeflag byte
	Mode     int64
	Size     int64
	Data     string // sha256 of the content
}

// readArchive reads a tar and checks the properties every member of our
// archives has: epoch mtime, root ownership without names, no access or
// change time, no PAX records, USTAR format.
func readArchive(t *testing.T, b []byte) []archiveEntry {
	t.Helper()
	if len(b)%512 != 0 {
		t.Errorf("archive of %d bytes: not whole blocks", len(b))
	}
	var out []archiveEntry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: times %v %v %v, want mtime 0 only", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:0 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if h.Format != tar.FormatUSTAR || len(h.PAXRecords) != 0 {
			t.Errorf("%s: format %v with PAX records %v, want USTAR", h.Name, h.Format, h.PAXRecords)
		}
		e := archiveEntry{Name: h.Name, Typeflag: h.Typeflag, Mode: h.Mode, Size: h.Size}
		if h.Typeflag == tar.TypeReg {
			e.Data = digest.FromBytes(data).String()
		}
		out = append(out, e)
	}
	return out
}

// wantArchive lists the members of an archive of blobs, with index.json and
// (for a Docker archive) manifest.json.
func wantArchive(blobs map[digest.Digest][]byte, indexJSON, manifestJSON string) []archiveEntry {
	out := []archiveEntry{
		{Name: "blobs/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "blobs/sha256/", Typeflag: tar.TypeDir, Mode: 0o755},
	}
	for _, d := range slices.Sorted(func(yield func(digest.Digest) bool) {
		for d := range blobs {
			if !yield(d) {
				return
			}
		}
	}) {
		out = append(out, archiveEntry{Name: "blobs/sha256/" + d.Encoded(), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(blobs[d])), Data: d.String()})
	}
	file := func(name, data string) archiveEntry {
		return archiveEntry{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), Data: digest.FromString(data).String()}
	}
	out = append(out, file("index.json", indexJSON))
	if manifestJSON != "" {
		out = append(out, file("manifest.json", manifestJSON))
	}
	return append(out, file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`))
}

func dockerManifestJSON(fx fixture, repoTags string) string {
	s := fmt.Sprintf(`[{"Config":"blobs/sha256/%s","RepoTags":[%s],"Layers":[`, fx.img.Config.Descriptor.Digest.Encoded(), repoTags)
	for i, l := range fx.layers {
		if i > 0 {
			s += ","
		}
		s += `"blobs/sha256/` + l.desc.Digest.Encoded() + `"`
	}
	return s + "]}]"
}

func TestWriteArchive(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, t.TempDir(), 10, 1000, 2000, 513)
	dst := filepath.Join(t.TempDir(), "image.tar")
	if err := layout.WriteArchive(ctx, dst, fx.layout("v1")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	want := wantArchive(fx.blobs(), indexJSON(fx.img.Manifest.Descriptor, "v1"), "")
	if diff := cmp.Diff(want, readArchive(t, b)); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	if fi, _ := os.Stat(dst); fi.Mode() != 0o644 {
		t.Errorf("archive mode %v, want 0644", fi.Mode())
	}
	if got := names(t, filepath.Dir(dst)); !cmp.Equal(got, []string{"image.tar"}) {
		t.Errorf("beside the archive: %q", got)
	}

	dockerDst := filepath.Join(t.TempDir(), "docker.tar")
	if err := layout.WriteDockerArchive(ctx, dockerDst, fx.layout("v1"), fx.img, []string{"example.com/app:v1", "example.com/app:latest"}); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(dockerDst)
	if err != nil {
		t.Fatal(err)
	}
	manifestJSON := dockerManifestJSON(fx, `"example.com/app:v1","example.com/app:latest"`)
	want = wantArchive(fx.blobs(), indexJSON(fx.img.Manifest.Descriptor, "v1"), manifestJSON)
	if diff := cmp.Diff(want, readArchive(t, db)); diff != "" {
		t.Errorf("docker archive (-want +got):\n%s", diff)
	}
	checkGolden(t, "archive.txt", fmt.Appendf(nil, "oci-archive %s\ndocker-archive %s\n", digest.FromBytes(b), digest.FromBytes(db)))
}

// TestWriteArchiveDeterministic: the archive depends on the blobs and the
// index only, not on how or in which order they were added, nor on where.
func TestWriteArchiveDeterministic(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, t.TempDir(), 11, 3000, 100, 2000)
	store := blob.NewMemory()
	for _, lf := range fx.layers {
		if err := store.Push(ctx, lf.desc, bytes.NewReader(lf.data)); err != nil {
			t.Fatal(err)
		}
	}
	ways := map[string]func() *layout.Layout{
		"files": func() *layout.Layout { return fx.layout("v1") },
		"bytes, reversed": func() *layout.Layout {
			l := layout.New()
			for _, lf := range slices.Backward(fx.layers) {
				l.AddBlob(image.Blob{Descriptor: lf.desc, Data: lf.data})
			}
			l.Tag(fx.img.Manifest.Descriptor, "v1")
			l.AddImage(fx.img)
			return l
		},
		"untrusted files and fetched": func() *layout.Layout {
			l := layout.New()
			l.Tag(fx.img.Manifest.Descriptor, "v1")
			l.AddFetched(fx.layers[1].desc, store)
			l.AddUntrustedFile(fx.layers[0].desc, fx.layers[0].path)
			l.AddFetched(fx.layers[2].desc, store)
			l.AddBlob(fx.img.Config)
			l.AddBlob(fx.img.Manifest)
			return l
		},
		"added twice": func() *layout.Layout {
			l := fx.layout("v1")
			for _, lf := range fx.layers {
				l.AddFetched(lf.desc, store)
				l.AddUntrustedFile(lf.desc, lf.path)
			}
			l.AddImage(fx.img)
			return l
		},
	}
	var first []byte
	var firstWay string
	for way, mk := range ways {
		for _, sub := range []string{"x", "deeper/dir"} {
			dst := filepath.Join(t.TempDir(), sub, "out.tar")
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := layout.WriteArchive(ctx, dst, mk()); err != nil {
				t.Fatalf("%s: %v", way, err)
			}
			b, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first, firstWay = b, way
				continue
			}
			if !bytes.Equal(b, first) {
				t.Errorf("%s (in %s): %s; %s: %s", firstWay, sub, digest.FromBytes(first), way, digest.FromBytes(b))
			}
		}
	}
}

func TestWriteDockerArchive(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, t.TempDir(), 12, 100, 200)
	other := newFixture(t, t.TempDir(), 13, 300)
	tests := []struct {
		name     string
		repoTags []string
		layout   func() *layout.Layout
		wantJSON string
		wantIs   error
		wantErr  string
	}{
		{name: "tagged", repoTags: []string{"example.com/app:v1"}, layout: func() *layout.Layout { return fx.layout("v1") }, wantJSON: dockerManifestJSON(fx, `"example.com/app:v1"`)},
		{name: "untagged: RepoTags is []", layout: func() *layout.Layout { return fx.layout("") }, wantJSON: dockerManifestJSON(fx, ``)},
		{
			name: "a layer the layout lacks",
			layout: func() *layout.Layout {
				l := layout.New()
				l.AddImage(fx.img)
				l.AddFile(fx.layers[0].desc, fx.layers[0].path)
				l.Tag(fx.img.Manifest.Descriptor, "v1")
				return l
			},
			wantIs:  blob.ErrNotFound,
			wantErr: "manifest.json Layers[1]: " + fx.layers[1].desc.Digest.String(),
		},
		{
			name:    "an image the layout does not hold",
			layout:  func() *layout.Layout { return other.layout("v1") },
			wantIs:  blob.ErrNotFound,
			wantErr: "manifest.json Config: " + fx.img.Config.Descriptor.Digest.String(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "docker.tar")
			err := layout.WriteDockerArchive(ctx, dst, tt.layout(), fx.img, tt.repoTags)
			if tt.wantErr != "" {
				if !errors.Is(err, tt.wantIs) || err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
					t.Fatalf("error %v, want %q wrapping %v", err, tt.wantErr, tt.wantIs)
				}
				if got := names(t, dir); len(got) != 0 {
					t.Errorf("left behind: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			src, err := layout.Open(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if src.Format != layout.FormatDockerArchive {
				t.Errorf("Format = %q", src.Format)
			}
			got, err := json.Marshal(src.Docker)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantJSON, string(got)); diff != "" {
				t.Errorf("manifest.json (-want +got):\n%s", diff)
			}
			b, _ := os.ReadFile(dst)
			for _, e := range readArchive(t, b) {
				if e.Name == "manifest.json" && e.Data != digest.FromString(tt.wantJSON).String() {
					t.Errorf("manifest.json bytes are not %s", tt.wantJSON)
				}
			}
		})
	}
}
