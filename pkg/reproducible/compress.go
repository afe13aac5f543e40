package reproducible

import (
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Algorithm names a layer compression.
type Algorithm string

// The compressions a layer may have.
const (
	Gzip Algorithm = "gzip"
	Zstd Algorithm = "zstd"
	None Algorithm = "none"
)

// Default levels: gzip 6 (gzip(1)'s own default), zstd 3 (zstd(1)'s).
const (
	DefaultGzipLevel = 6
	DefaultZstdLevel = 3
)

// The implementations behind each algorithm. Compressed bytes are a function
// of the data, the algorithm, the level and these versions: a different
// library version may compress differently, which moves layer digests (never
// DiffIDs). They are recorded in every layer's metadata so that a digest
// change can be explained; a test keeps them equal to go.mod.
const (
	GzipImplementation = "github.com/klauspost/pgzip@v1.3.0+github.com/klauspost/compress@v1.20.5;block=1048576"
	ZstdImplementation = "github.com/klauspost/compress@v1.20.5;frame=4194304"
)

const (
	// gzipBlockSize is the size of the blocks pgzip compresses in parallel.
	// Block boundaries depend only on this constant, never on GOMAXPROCS,
	// so the output is the same on any number of CPUs.
	gzipBlockSize = 1 << 20
	// maxZstdWindow caps the window a zstd frame may ask the decoder for:
	// 128 MiB, zstd(1)'s --long default. A larger one would let a tiny
	// hostile frame allocate gigabytes.
	maxZstdWindow = 1 << 27
)

// Compression is an algorithm and its level. The zero value means gzip at its
// default level.
type Compression struct {
	Algorithm Algorithm `json:"algorithm"`
	// Level: gzip 1..9, zstd 1..22; 0 means the algorithm's default. It is
	// ignored for none.
	Level int `json:"level,omitempty"`
}

// ParseAlgorithm accepts "gzip", "zstd", "none" and "" (gzip).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch Algorithm(s) {
	case "", Gzip:
		return Gzip, nil
	case Zstd, None:
		return Algorithm(s), nil
	}
	return "", fmt.Errorf("compression %q: want gzip, zstd or none", s)
}

// Resolved fills in defaults and checks the level.
func (c Compression) Resolved() (Compression, error) {
	alg, err := ParseAlgorithm(string(c.Algorithm))
	if err != nil {
		return Compression{}, err
	}
	c.Algorithm = alg
	switch alg {
	case Gzip:
		if c.Level == 0 {
			c.Level = DefaultGzipLevel
		}
		if c.Level < 1 || c.Level > 9 {
			return Compression{}, fmt.Errorf("gzip level %d: want 1..9", c.Level)
		}
	case Zstd:
		if c.Level == 0 {
			c.Level = DefaultZstdLevel
		}
		if c.Level < 1 || c.Level > 22 {
			return Compression{}, fmt.Errorf("zstd level %d: want 1..22", c.Level)
		}
	case None:
		c.Level = 0
	}
	return c, nil
}

// MediaType is the OCI layer media type for this compression.
func (c Compression) MediaType() string {
	switch c.Algorithm {
	case Zstd:
		return ocispec.MediaTypeImageLayerZstd
	case None:
		return ocispec.MediaTypeImageLayer
	}
	return ocispec.MediaTypeImageLayerGzip
}

// Implementation names the library versions that produce the bytes.
func (c Compression) Implementation() string {
	switch c.Algorithm {
	case Zstd:
		return ZstdImplementation
	case None:
		return ""
	}
	return GzipImplementation
}

// NewWriter returns a compressor writing to w. Closing it flushes the stream
// but does not close w. Its output depends only on the bytes written and on c.
// The gzip header carries no time, no name and OS "unknown". A zstd stream is
// a series of independent frames of 4 MiB of input each (the last shorter;
// one empty frame for empty input), each with its content size and, if it
// holds data, a checksum.
func NewWriter(w io.Writer, c Compression) (io.WriteCloser, error) {
	c, err := c.Resolved()
	if err != nil {
		return nil, err
	}
	switch c.Algorithm {
	case Gzip:
		zw, err := pgzip.NewWriterLevel(w, c.Level)
		if err != nil {
			return nil, err
		}
		// pgzip writes uint32(ModTime.Unix()) as is; the zero time.Time
		// would become a large bogus value, so set the Unix epoch: 0.
		zw.ModTime = time.Unix(0, 0)
		zw.OS = 255
		if err := zw.SetConcurrency(gzipBlockSize, 4); err != nil {
			return nil, err
		}
		return zw, nil
	case Zstd:
		return newFramedZstdWriter(w, zstdFrameSize, zstdWorkers(), zstdOptions(c.Level, zstdFrameSize)), nil
	}
	return nopWriteCloser{w}, nil
}

// NewReader decompresses r according to c's algorithm.
func NewReader(r io.Reader, alg Algorithm) (io.ReadCloser, error) {
	switch alg {
	case Gzip:
		return pgzip.NewReader(r)
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow*2))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case None:
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("compression %q: want gzip, zstd or none", alg)
}

// Detect reports the compression of a stream from its first bytes: gzip
// (1f 8b), zstd (28 b5 2f fd) or none.
func Detect(head []byte) Algorithm {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return Gzip
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		return Zstd
	}
	return None
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
