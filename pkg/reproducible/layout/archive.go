package layout

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
)

// DockerManifestFile is the `docker save` manifest's name in an archive.
const DockerManifestFile = "manifest.json"

// DockerManifestEntry is one image of a `docker save` manifest.json.
type DockerManifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// WriteArchive writes l as an OCI archive: a tar of the layout directory with
// entries sorted, every mtime the epoch, owner 0:0, directories 0755 and
// files 0644. It is written to a temporary file and renamed.
func WriteArchive(ctx context.Context, dst string, l *Layout) error {
	return writeTar(ctx, dst, l, nil)
}

// WriteDockerArchive writes img, whose layers l must hold, as an archive that
// `docker load` and `podman load` accept and that is also an OCI archive:
// the layout plus manifest.json naming the config and layers by their blob
// paths, with repoTags (e.g. "example.com/app:v1"). img must be an image of
// l. Layers keep their compression.
func WriteDockerArchive(ctx context.Context, dst string, l *Layout, img image.Image, repoTags []string) error {
	// manifest.json names blobs by path: each must be in the archive.
	if _, ok := l.blobs[img.Config.Descriptor.Digest]; !ok {
		return fmt.Errorf("manifest.json Config: %s: %w in the layout", img.Config.Descriptor.Digest, blob.ErrNotFound)
	}
	for i, ld := range img.Layers {
		if _, ok := l.blobs[ld.Digest]; !ok {
			return fmt.Errorf("manifest.json Layers[%d]: %s: %w in the layout", i, ld.Digest, blob.ErrNotFound)
		}
	}
	e := DockerManifestEntry{Config: blobName(img.Config.Descriptor.Digest), RepoTags: slices.Clone(repoTags)}
	if e.RepoTags == nil {
		e.RepoTags = []string{}
	}
	for _, ld := range img.Layers {
		e.Layers = append(e.Layers, blobName(ld.Digest))
	}
	if e.Layers == nil {
		e.Layers = []string{}
	}
	m, err := reproducible.Marshal([]DockerManifestEntry{e})
	if err != nil {
		return err
	}
	return writeTar(ctx, dst, l, m)
}

func blobName(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

func writeTar(ctx context.Context, dst string, l *Layout, dockerManifest []byte) error {
	if err := l.Check(); err != nil {
		return err
	}
	idx, err := reproducible.Marshal(l.Index())
	if err != nil {
		return err
	}
	p, err := reproducible.CreatePending(dst)
	if err != nil {
		return err
	}
	defer p.Abort()
	bw := bufio.NewWriterSize(p, 1<<20)
	tw := tar.NewWriter(bw)
	dir := func(name string) error { return writeHeader(tw, tar.TypeDir, name, 0o755, 0) }
	file := func(name string, data []byte) error {
		if err := writeHeader(tw, tar.TypeReg, name, 0o644, int64(len(data))); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	// Sorted by name: blobs/, blobs/sha256/, blobs/sha256/*, index.json,
	// manifest.json, oci-layout.
	if err := dir(ocispec.ImageBlobsDir); err != nil {
		return err
	}
	algs := map[string]bool{}
	for _, dg := range l.Digests() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if a := dg.Algorithm().String(); !algs[a] {
			algs[a] = true
			if err := dir(path.Join(ocispec.ImageBlobsDir, a)); err != nil {
				return err
			}
		}
		s := l.blobs[dg]
		if err := writeHeader(tw, tar.TypeReg, blobName(dg), 0o644, s.desc.Size); err != nil {
			return err
		}
		rc, err := s.open(ctx)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, rc)
		rc.Close()
		if err != nil {
			return s.wrap(err)
		}
	}
	if err := file(ocispec.ImageIndexFile, idx); err != nil {
		return err
	}
	if dockerManifest != nil {
		if err := file(DockerManifestFile, dockerManifest); err != nil {
			return err
		}
	}
	if err := file(ocispec.ImageLayoutFile, []byte(layoutFile)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return p.Commit()
}

func writeHeader(tw *tar.Writer, typ byte, name string, mode, size int64) error {
	h, err := reproducible.NormalizeHeader(tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: reproducible.Epoch})
	if err != nil {
		return err
	}
	return tw.WriteHeader(&h)
}
