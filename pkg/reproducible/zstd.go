package reproducible

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

const (
	// zstdFrameSize is how many input bytes each zstd frame holds; the last
	// frame holds the rest. Frame boundaries depend only on this constant,
	// never on GOMAXPROCS or on how the input was cut into writes, so the
	// output is the same on any machine. ZstdImplementation records it.
	//
	// Measured on the gotool corpus (bench/README.md), against the single
	// frame of klauspost's stream encoder: 1 MiB frames made the blob 1.2%
	// larger and a layer build on one core 20% slower, 2 MiB 0.8% and 12%,
	// 4 MiB 0.6% and 7% (the encoder is slow to start a frame). Memory is
	// about two frames per worker: the input, and the encoder's copy of it.
	zstdFrameSize = 4 << 20
	// zstdMaxWorkers caps the frames compressed at once. Memory grows with
	// it; the output does not.
	zstdMaxWorkers = 4
	// zstdBlockSize is the largest block zstd writes (RFC 8878
	// section 3.1.1.2.4).
	zstdBlockSize = 128 << 10
)

// zstdWorkers is how many frames NewWriter compresses at once: a function of
// the machine, which the output does not depend on.
func zstdWorkers() int { return min(runtime.GOMAXPROCS(0), zstdMaxWorkers) }

// zstdOptions are the encoder options for every frame at a level.
func zstdOptions(level, frameSize int) []zstd.EOption {
	return []zstd.EOption{
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		// One encoder per worker, each compressing one frame at a time.
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true),
		// The empty input is one frame that holds no data.
		zstd.WithZeroFrames(true),
		// No match reaches outside its frame: a larger window would only
		// cost memory.
		zstd.WithWindowSize(frameSize),
		// Every frame is a single segment: its header has the content size
		// and no window, and a decoder needs only the frame's size in
		// memory. (EncodeAll's own choice leaves the size out of frames
		// under 256 bytes.)
		zstd.WithSingleSegment(true),
	}
}

// framedZstdWriter compresses its input as a series of independent zstd
// frames of frameSize bytes each (the last one shorter), several at a time,
// and writes them in order. Concatenated frames are one valid zstd stream
// (RFC 8878 section 3.1), as pzstd writes them. Every frame has its content
// size in its header and, if it holds data, a checksum. No frame refers to
// another's data: frame i is EncodeAll of input bytes [i*frameSize,
// (i+1)*frameSize) with the same options, whichever encoder compressed it.
//
// Compression runs on one goroutine per frame, at most cap(encoders) at a
// time; the caller's goroutine fills frames and writes compressed ones out,
// oldest first. At most inFlight frames are compressing or waiting to be
// written, plus the one being filled. A writer abandoned without Close leaks
// nothing: its goroutines finish their frame and exit.
type framedZstdWriter struct {
	w         io.Writer
	opts      []zstd.EOption
	frameSize int
	inFlight  int

	// encoders holds one slot per worker, nil until that worker's encoder is
	// first needed. Taking a slot is the right to compress one frame.
	encoders chan *zstd.Encoder

	cur     []byte       // the frame being filled, nil between frames
	queue   []*zstdFrame // frames handed out and not yet written, in order
	freeSrc [][]byte     // input buffers to reuse
	freeDst [][]byte     // output buffers to reuse
	started bool         // a frame was started: Close adds no empty frame
	closed  bool
	err     error // the first error; every later call returns it
}

type zstdFrame struct {
	src, dst []byte
	err      error
	done     chan struct{}
}

func newFramedZstdWriter(w io.Writer, frameSize, workers int, opts []zstd.EOption) *framedZstdWriter {
	workers = max(1, workers)
	z := &framedZstdWriter{
		w:         w,
		opts:      opts,
		frameSize: frameSize,
		// A frame for each worker while the caller fills the next: one more
		// waiting was no faster (bench/README.md) and costs a frame's memory.
		inFlight: workers,
		encoders: make(chan *zstd.Encoder, workers),
	}
	for range workers {
		z.encoders <- nil
	}
	return z
}

var errZstdClosed = errors.New("zstd: write after close")

func (z *framedZstdWriter) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if z.closed {
		return 0, errZstdClosed
	}
	n := 0
	for len(p) > 0 {
		if z.cur == nil {
			z.cur = z.srcBuffer()
			z.started = true
		}
		k := copy(z.cur[len(z.cur):z.frameSize], p)
		z.cur = z.cur[:len(z.cur)+k]
		p = p[k:]
		n += k
		if len(z.cur) == z.frameSize {
			if z.submit(); z.err != nil {
				return n, z.err
			}
		}
	}
	return n, nil
}

// Close compresses what is left, writes every frame and returns the first
// error. It does not close the underlying writer. After an error it only
// waits for the frames being compressed.
func (z *framedZstdWriter) Close() error {
	if z.closed {
		return z.err
	}
	z.closed = true
	if z.err == nil && (z.cur != nil || !z.started) {
		// The last, short frame; or, for empty input, one empty frame.
		z.submit()
	}
	for len(z.queue) > 0 {
		z.writeOldest()
	}
	z.cur, z.freeSrc, z.freeDst = nil, nil, nil
	return z.err
}

// srcBuffer returns an empty slice with room for a frame's input.
func (z *framedZstdWriter) srcBuffer() []byte {
	if n := len(z.freeSrc); n > 0 {
		b := z.freeSrc[n-1]
		z.freeSrc = z.freeSrc[:n-1]
		return b[:0]
	}
	return make([]byte, 0, z.frameSize)
}

// dstBuffer returns an empty slice with room for a frame's output even if
// its input does not compress: a header, the input in raw blocks of 3-byte
// headers, and a checksum. The pages a frame does not fill stay untouched.
func (z *framedZstdWriter) dstBuffer() []byte {
	if n := len(z.freeDst); n > 0 {
		b := z.freeDst[n-1]
		z.freeDst = z.freeDst[:n-1]
		return b[:0]
	}
	return make([]byte, 0, z.frameSize+3*(z.frameSize/zstdBlockSize+1)+zstd.HeaderMaxSize+4)
}

// submit hands z.cur to a goroutine: first it writes out the oldest frames
// while too many are in flight, afterwards any that are already done.
func (z *framedZstdWriter) submit() {
	for len(z.queue) >= z.inFlight && z.err == nil {
		z.writeOldest()
	}
	if z.err != nil {
		return
	}
	f := &zstdFrame{src: z.cur, dst: z.dstBuffer(), done: make(chan struct{})}
	z.cur = nil
	z.queue = append(z.queue, f)
	go z.compress(f)
	for len(z.queue) > 0 && z.err == nil {
		select {
		case <-z.queue[0].done:
			z.writeOldest()
		default:
			return
		}
	}
}

// compress runs on its own goroutine: it takes an encoder slot, compresses
// f and gives the slot back.
func (z *framedZstdWriter) compress(f *zstdFrame) {
	defer close(f.done)
	enc := <-z.encoders
	defer func() {
		if r := recover(); r != nil {
			// EncodeAll panics only on an internal error. The encoder's
			// state is suspect: the slot gets a new one.
			f.err = fmt.Errorf("zstd: compressing a frame: %v", r)
			enc = nil
		}
		z.encoders <- enc
	}()
	if enc == nil {
		var err error
		if enc, err = zstd.NewWriter(nil, z.opts...); err != nil {
			f.err = err
			return
		}
	}
	f.dst = enc.EncodeAll(f.src, f.dst[:0])
}

// writeOldest waits for the oldest frame in flight and writes it, unless an
// error came first.
func (z *framedZstdWriter) writeOldest() {
	f := z.queue[0]
	z.queue[0] = nil
	z.queue = z.queue[1:]
	<-f.done
	if z.err == nil {
		z.err = f.err
	}
	if z.err == nil {
		var n int
		n, z.err = z.w.Write(f.dst)
		if z.err == nil && n != len(f.dst) {
			z.err = io.ErrShortWrite
		}
	}
	if f.src != nil {
		z.freeSrc = append(z.freeSrc, f.src)
	}
	z.freeDst = append(z.freeDst, f.dst)
}
