package diff

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
)

// Compressor is what can be learnt of how a layer blob was compressed.
type Compressor struct {
	MediaType string `json:"mediaType"`
	// Algorithm is read from the blob's first bytes: gzip, zstd or none.
	Algorithm reproducible.Algorithm `json:"algorithm"`
	Size      int64                  `json:"size"`
	// Gzip is the gzip member header, for gzip blobs.
	Gzip *GzipHeader `json:"gzip,omitempty"`
	// Zstd is the first zstd frame header, for zstd blobs.
	Zstd *ZstdFrame `json:"zstd,omitempty"`
	// Reproduced names the imagewriter compression that gives exactly this
	// blob from the layer's content, when one was found ("gzip level 6"),
	// with the implementation; "" when none did or none was tried.
	Reproduced string `json:"reproduced,omitempty"`
	// Tried lists the imagewriter settings tried when none matched.
	Tried string `json:"tried,omitempty"`
}

// GzipHeader is the fixed part of a gzip member header (RFC 1952).
type GzipHeader struct {
	Flags   byte   `json:"flags"`
	MTime   uint32 `json:"mtime"`
	XFL     byte   `json:"xfl"`
	OS      byte   `json:"os"`
	Name    string `json:"name,omitempty"`
	Comment string `json:"comment,omitempty"`
	Extra   bool   `json:"extra,omitempty"`
}

// ZstdFrame is the first frame header of a zstd stream (RFC 8878).
type ZstdFrame struct {
	Checksum      bool `json:"checksum"`
	ContentSize   bool `json:"contentSize"`
	SingleSegment bool `json:"singleSegment"`
	Dictionary    bool `json:"dictionary"`
}

var gzipOS = map[byte]string{0: "FAT", 3: "Unix", 7: "Macintosh", 11: "NTFS", 255: "unknown"}

func (c Compressor) String() string {
	var parts []string
	parts = append(parts, string(c.Algorithm))
	if c.MediaType != "" {
		parts = append(parts, "media type "+c.MediaType)
	}
	if g := c.Gzip; g != nil {
		os := gzipOS[g.OS]
		if os == "" {
			os = "?"
		}
		s := fmt.Sprintf("header mtime %d, XFL %d, OS %d (%s)", g.MTime, g.XFL, g.OS, os)
		switch g.XFL {
		case 2:
			s += " [XFL 2: slowest, best compression]"
		case 4:
			s += " [XFL 4: fastest]"
		}
		if g.Name != "" {
			s += fmt.Sprintf(", name %q", g.Name)
		}
		if g.Comment != "" {
			s += fmt.Sprintf(", comment %q", g.Comment)
		}
		if g.Extra {
			s += ", extra field"
		}
		parts = append(parts, s)
	}
	if z := c.Zstd; z != nil {
		parts = append(parts, fmt.Sprintf("frame checksum %v, content size recorded %v, single segment %v, dictionary %v", z.Checksum, z.ContentSize, z.SingleSegment, z.Dictionary))
	}
	switch {
	case c.Reproduced != "":
		parts = append(parts, "imagewriter reproduces it exactly with "+c.Reproduced)
	case c.Tried != "":
		parts = append(parts, "imagewriter does not reproduce it with "+c.Tried+": another implementation, version or setting made it (the level cannot be read from the bytes)")
	}
	return strings.Join(parts, "; ")
}

// compression explains two blobs of the same content.
func (w *walker) compression(platform string, a, b *LayerRef) error {
	ca, err := w.compressor(w.a, a.Descriptor)
	if err != nil {
		return err
	}
	cb, err := w.compressor(w.b, b.Descriptor)
	if err != nil {
		return err
	}
	if err := w.reproduce(a, b, &ca, &cb); err != nil {
		return err
	}
	w.add(Difference{Platform: platform, Object: ObjectLayer, LayerA: intp(a.Index), LayerB: intp(b.Index),
		Field: "compression", Change: Changed, A: ca.String(), B: cb.String(),
		Note: fmt.Sprintf("same content (diff_id %s), different compression: blob %s vs %s", a.DiffID, a.Descriptor.Digest, b.Descriptor.Digest)})
	return nil
}

// compressor reads a blob's first bytes.
func (w *walker) compressor(s Side, desc ocispec.Descriptor) (Compressor, error) {
	c := Compressor{MediaType: desc.MediaType, Size: desc.Size}
	rc, err := s.Fetcher.Fetch(w.ctx, desc)
	if err != nil {
		return c, fmt.Errorf("%s: %w", s.Name, err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 4096)
	head, _ := br.Peek(4096)
	c.Algorithm = reproducible.Detect(head)
	switch c.Algorithm {
	case reproducible.Gzip:
		c.Gzip = parseGzipHeader(head)
	case reproducible.Zstd:
		if len(head) > 4 {
			fhd := head[4]
			c.Zstd = &ZstdFrame{
				ContentSize:   fhd>>6 != 0 || fhd&0x20 != 0,
				SingleSegment: fhd&0x20 != 0,
				Checksum:      fhd&0x04 != 0,
				Dictionary:    fhd&0x03 != 0,
			}
		}
	}
	return c, nil
}

func parseGzipHeader(b []byte) *GzipHeader {
	if len(b) < 10 {
		return nil
	}
	h := &GzipHeader{Flags: b[3], MTime: uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24, XFL: b[8], OS: b[9]}
	rest := b[10:]
	if h.Flags&0x04 != 0 { // FEXTRA
		h.Extra = true
		if len(rest) < 2 {
			return h
		}
		n := int(rest[0]) | int(rest[1])<<8
		if len(rest) < 2+n {
			return h
		}
		rest = rest[2+n:]
	}
	cstr := func() string {
		i := strings.IndexByte(string(rest), 0)
		if i < 0 {
			return ""
		}
		s := string(rest[:i])
		rest = rest[i+1:]
		return s
	}
	if h.Flags&0x08 != 0 { // FNAME
		h.Name = cstr()
	}
	if h.Flags&0x10 != 0 { // FCOMMENT
		h.Comment = cstr()
	}
	return h
}

// reproduce recompresses the layer's content (read once, from side a) with
// imagewriter's compressor at each of its levels for the algorithms the
// two blobs use, and records which setting gives each blob exactly.
func (w *walker) reproduce(a, b *LayerRef, ca, cb *Compressor) error {
	if w.opts.RecompressLimit < 0 {
		return nil
	}
	var trials []trial
	algs := map[reproducible.Algorithm]bool{ca.Algorithm: true, cb.Algorithm: true}
	for alg := range algs {
		for _, t := range trialsFor(alg) {
			trials = append(trials, t)
		}
	}
	if len(trials) == 0 {
		return nil
	}
	ol, err := unpack.OpenLayer(w.ctx, w.a.Fetcher, a.Descriptor)
	if err != nil {
		return fmt.Errorf("%s: layers[%d]: %w", w.a.Name, a.Index, err)
	}
	defer ol.Close()
	var writers []io.Writer
	for i := range trials {
		t := &trials[i]
		t.sum = sha256.New()
		t.out = &counter{w: t.sum}
		zw, err := reproducible.NewWriter(t.out, reproducible.Compression{Algorithm: t.alg, Level: t.level})
		if err != nil {
			return err
		}
		t.zw = zw
		writers = append(writers, zw)
	}
	n, err := io.Copy(io.MultiWriter(writers...), io.LimitReader(ol, w.opts.RecompressLimit+1))
	if err != nil {
		return fmt.Errorf("%s: layers[%d]: %w", w.a.Name, a.Index, err)
	}
	for i := range trials {
		trials[i].zw.Close()
	}
	if n > w.opts.RecompressLimit {
		return nil // too large to try: say nothing rather than guess
	}
	for _, c := range []*Compressor{ca, cb} {
		var tried []string
		for _, t := range trials {
			if t.alg != c.Algorithm {
				continue
			}
			tried = append(tried, t.name)
			d := digest.NewDigest(digest.SHA256, t.sum)
			if (c == ca && d == a.Descriptor.Digest) || (c == cb && d == b.Descriptor.Digest) {
				c.Reproduced = t.name + " (" + reproducible.Compression{Algorithm: t.alg}.Implementation() + ")"
			}
		}
		if c.Reproduced == "" && len(tried) > 0 {
			c.Tried = string(c.Algorithm) + " " + strings.Join(tried, ", ")
		}
	}
	return nil
}

type trial struct {
	alg   reproducible.Algorithm
	level int
	name  string
	sum   hash.Hash
	out   *counter
	zw    io.WriteCloser
}

// trialsFor lists the settings of imagewriter that give distinct bytes:
// gzip's nine levels; zstd's four encoder levels (the zstd library maps
// levels 1-2, 3-5, 6-9 and 10-22 each to one encoder).
func trialsFor(alg reproducible.Algorithm) []trial {
	switch alg {
	case reproducible.Gzip:
		var out []trial
		for l := 1; l <= 9; l++ {
			out = append(out, trial{alg: alg, level: l, name: fmt.Sprintf("level %d", l)})
		}
		return out
	case reproducible.Zstd:
		return []trial{
			{alg: alg, level: 1, name: "level 1-2"},
			{alg: alg, level: 3, name: "level 3-5"},
			{alg: alg, level: 6, name: "level 6-9"},
			{alg: alg, level: 10, name: "level 10-22"},
		}
	}
	return nil
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
