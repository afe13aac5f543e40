package verify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// layerCompression is the compression a layer media type promises, and
// whether the type is a layer type at all.
func layerCompression(mt string) (reproducible.Algorithm, bool) {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerNonDistributable: //nolint:staticcheck // still read
		return reproducible.None, true
	case ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // still read
		image.DockerLayer, image.DockerForeignLayer:
		return reproducible.Gzip, true
	case ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayerNonDistributableZstd: //nolint:staticcheck // still read
		return reproducible.Zstd, true
	}
	return "", false
}

// nonDistributable layers may be absent: registries and layouts need not
// hold them.
func nonDistributable(mt string) bool {
	return strings.Contains(mt, ".nondistributable.") || mt == image.DockerForeignLayer
}

func describe(a reproducible.Algorithm) string {
	if a == reproducible.None {
		return "not compressed"
	}
	return string(a) + "-compressed"
}

type layerKey struct {
	d    digest.Digest
	size int64
	// diffAlg is the algorithm of the diff_id to compute; "" for a blob
	// that is only streamed.
	diffAlg digest.Algorithm
}

// layerResult is what reading a layer found.
type layerResult struct {
	read   bool                   // the bytes are the blob (or, in Fast mode, the blob exists)
	alg    reproducible.Algorithm // its compression, from its first bytes
	diffID digest.Digest          // "" when unknown (Fast, or not a readable tar stream)
}

// layer reads a layer once per (digest, size): its size and digest, its
// compression, its diff_id and its entries.
func (c *checker) layer(ctx context.Context, at location, desc ocispec.Descriptor, diffAlg digest.Algorithm) layerResult {
	key := layerKey{desc.Digest, desc.Size, diffAlg}
	if r, ok := c.layers[key]; ok {
		return r
	}
	if !c.layerDigests[desc.Digest] {
		c.layerDigests[desc.Digest] = true
		c.rep.Layers++
	}
	r := c.readLayer(ctx, at, desc, diffAlg)
	c.layers[key] = r
	return r
}

func (c *checker) readLayer(ctx context.Context, at location, desc ocispec.Descriptor, diffAlg digest.Algorithm) layerResult {
	rc, err := c.f.Fetch(ctx, desc)
	if err != nil {
		if !(errors.Is(err, blob.ErrNotFound) && nonDistributable(desc.MediaType)) {
			c.fetchProblem(ctx, at, desc, err)
		}
		return layerResult{}
	}
	defer rc.Close()
	// Every read is verified here too, whatever the Fetcher does: src
	// records the first error of the blob's own bytes.
	src := &errReader{r: &ctxReader{ctx: ctx, r: blob.VerifyReader(rc, desc)}}
	cnt := &countReader{r: src}
	br := bufio.NewReaderSize(cnt, 1<<16)
	head, _ := br.Peek(4)
	r := layerResult{read: true, alg: reproducible.Detect(head)}
	if c.opts.Fast {
		c.rep.Bytes += cnt.n
		if src.err != nil {
			c.fetchProblem(ctx, at, desc, src.err)
			return layerResult{}
		}
		return r
	}
	diffID, problems := c.layerContent(ctx, desc, br, r.alg, diffAlg, src)
	// Read what the decompressor left, so that size and digest are checked.
	io.Copy(io.Discard, br)
	c.rep.Bytes += cnt.n
	if src.err != nil {
		// The bytes are not the blob: nothing else about them matters.
		c.fetchProblem(ctx, at, desc, src.err)
		return layerResult{}
	}
	for _, p := range problems {
		c.problem(location{p.Blob, p.Path}, p.Err, "%s", p.What)
	}
	r.diffID = diffID
	return r
}

// layerContent decompresses a layer, hashes the tar stream (its diff_id)
// and reads its entries as hostile input. It returns the problems rather
// than reporting them: they count only if the bytes turn out to be the
// blob's.
func (c *checker) layerContent(ctx context.Context, desc ocispec.Descriptor, br io.Reader, alg reproducible.Algorithm, diffAlg digest.Algorithm, src *errReader) (digest.Digest, []Problem) {
	name := desc.Digest.String()
	var problems []Problem
	add := func(path string, err error, format string, args ...any) {
		problems = append(problems, Problem{Blob: name, Path: path, What: fmt.Sprintf(format, args...), Err: err})
	}
	dr, err := reproducible.NewReader(br, alg)
	if err != nil {
		add("", layer.ErrBadTar, "%s: %v", describe(alg), err)
		return "", problems
	}
	dec := &errReader{r: dr}
	h := diffAlg.Hash()
	tee := io.TeeReader(dec, h)
	lr := layer.NewReader(tee)
	seen := map[string]bool{}
	for {
		e, _, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if src.err == nil && dec.err == nil {
				var pe *layer.PathError
				if errors.As(err, &pe) {
					add(pe.Path, unwrapSentinel(pe.Err), "%v", pe.Err)
				} else {
					add("", layer.ErrBadTar, "not a tar stream: %v", err)
				}
			}
			break
		}
		tn := tarName(e)
		if seen[tn] {
			add(tn, layer.ErrDuplicatePath, "duplicate path: the layer holds it twice")
		}
		seen[tn] = true
	}
	// The rest of the tar stream (end-of-archive blocks, padding) is part
	// of the diff_id.
	io.Copy(io.Discard, tee)
	dr.Close()
	if src.err != nil {
		return "", nil
	}
	if dec.err != nil {
		add("", layer.ErrBadTar, "%s: %v", describe(alg), dec.err)
		return "", problems
	}
	return digest.NewDigest(diffAlg, h), problems
}

// unwrapSentinel picks the layer sentinel an entry error matches.
func unwrapSentinel(err error) error {
	for _, s := range []error{layer.ErrUnsafePath, layer.ErrDuplicatePath, layer.ErrBadTar} {
		if errors.Is(err, s) {
			return s
		}
	}
	return layer.ErrBadTar
}

// tarName is the name an entry has in the tar, cleaned: a whiteout and an
// opaque marker are names of their own, distinct from the path they hide.
func tarName(e *layer.Entry) string {
	switch e.Kind {
	case layer.Whiteout:
		dir, base := "", e.Path
		if i := strings.LastIndexByte(e.Path, '/'); i >= 0 {
			dir, base = e.Path[:i+1], e.Path[i+1:]
		}
		return dir + layer.WhiteoutPrefix + base
	case layer.Opaque:
		return e.Path + "/" + layer.OpaqueMarker
	}
	return e.Path
}

// errReader records the first error other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long read when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// copyCtx reads r to the end, stopping when ctx is cancelled.
func copyCtx(ctx context.Context, r io.Reader) (int64, error) {
	return io.Copy(io.Discard, &ctxReader{ctx: ctx, r: r})
}
