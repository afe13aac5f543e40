package reproducible_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// zstdFrame is one frame of a zstd stream, as framesOf finds it.
type zstdFrame struct {
	raw         []byte // the whole frame, header to checksum
	contentSize uint64
	checksum    bool
	single      bool
}

// framesOf splits a zstd stream into its frames (RFC 8878 section 3.1.1),
// reading block headers to find where each frame ends.
func framesOf(t *testing.T, b []byte) []zstdFrame {
	t.Helper()
	var frames []zstdFrame
	for len(b) > 0 {
		var h zstd.Header
		if err := h.Decode(b); err != nil {
			t.Fatalf("frame %d: header: %v", len(frames), err)
		}
		if h.Skippable || !h.HasFCS {
			t.Fatalf("frame %d: skippable %v, content size present %v; want a data frame with its size", len(frames), h.Skippable, h.HasFCS)
		}
		n := h.HeaderSize
		for last := false; !last; {
			if n+3 > len(b) {
				t.Fatalf("frame %d: truncated block header at %d", len(frames), n)
			}
			bh := uint32(b[n]) | uint32(b[n+1])<<8 | uint32(b[n+2])<<16
			last = bh&1 == 1
			size := int(bh >> 3)
			if typ := bh >> 1 & 3; typ == 1 { // RLE: one byte, repeated
				size = 1
			}
			n += 3 + size
		}
		if h.HasCheckSum {
			n += 4
		}
		if n > len(b) {
			t.Fatalf("frame %d: %d bytes, only %d left", len(frames), n, len(b))
		}
		frames = append(frames, zstdFrame{raw: b[:n], contentSize: h.FrameContentSize, checksum: h.HasCheckSum, single: h.SingleSegment})
		b = b[n:]
	}
	return frames
}

// TestZstdFrames checks the stream's shape: one independent frame per
// ZstdFrameSize bytes of input (the last one shorter), each a single segment
// with its content size and a checksum, each decompressing alone to its slice
// of the input.
func TestZstdFrames(t *testing.T) {
	const fs = reproducible.ZstdFrameSize
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for _, n := range []int{1, 1000, fs - 1, fs, fs + 1, 2*fs + fs/3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := testData(uint64(n), n)
			frames := framesOf(t, compress(t, reproducible.Compression{Algorithm: reproducible.Zstd}, data, 1<<20))
			if want := (n + fs - 1) / fs; len(frames) != want {
				t.Fatalf("%d frames, want %d", len(frames), want)
			}
			for i, f := range frames {
				part := data[i*fs : min((i+1)*fs, n)]
				if f.contentSize != uint64(len(part)) || !f.checksum || !f.single {
					t.Errorf("frame %d: content size %d, checksum %v, single segment %v; want %d, true, true", i, f.contentSize, f.checksum, f.single, len(part))
				}
				got, err := dec.DecodeAll(f.raw, nil)
				if err != nil {
					t.Fatalf("frame %d alone: %v", i, err)
				}
				if !bytes.Equal(got, part) {
					t.Errorf("frame %d alone: %d bytes differ from input bytes %d..%d", i, len(got), i*fs, i*fs+len(part))
				}
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		b := compress(t, reproducible.Compression{Algorithm: reproducible.Zstd}, nil, 1)
		frames := framesOf(t, b)
		if len(frames) != 1 || frames[0].contentSize != 0 {
			t.Fatalf("empty input: frames %+v; want one empty frame", frames)
		}
		got, err := dec.DecodeAll(b, nil)
		if err != nil || len(got) != 0 {
			t.Errorf("empty stream decodes to %d bytes, %v", len(got), err)
		}
	})
}

// TestZstdManyFrames runs more frames than the writer keeps in flight, at
// each GOMAXPROCS and with writes that do and do not line up with frames:
// always the same bytes, which klauspost's decoder (as a stream) and, if
// installed, zstd(1) turn back into the input.
func TestZstdManyFrames(t *testing.T) {
	const fs = reproducible.ZstdFrameSize
	data := testData(7, 6*fs+fs/2+3)
	c := reproducible.Compression{Algorithm: reproducible.Zstd}
	var first []byte
	for _, procs := range []int{1, 2, 8} {
		for _, chunk := range []int{4093, fs, 3*fs + 1, len(data)} {
			old := runtime.GOMAXPROCS(procs)
			got := compress(t, c, data, chunk)
			runtime.GOMAXPROCS(old)
			if first == nil {
				first = got
			} else if !bytes.Equal(got, first) {
				t.Errorf("GOMAXPROCS=%d, writes of %d: sha256:%x, want sha256:%x", procs, chunk, sha256.Sum256(got), sha256.Sum256(first))
			}
		}
	}
	if n := len(framesOf(t, first)); n != 7 {
		t.Errorf("%d frames, want 7", n)
	}
	r, err := reproducible.NewReader(bytes.NewReader(first), reproducible.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(back, data) {
		t.Errorf("NewReader: %d bytes back (%v), want the %d written", len(back), err, len(data))
	}
	for _, in := range [][]byte{first, compress(t, c, nil, 1)} {
		want := data
		if len(in) < 100 {
			want = nil
		}
		checkZstdCLI(t, in, want)
	}
}

// checkZstdCLI decompresses b with the reference implementation, if it is
// installed, and compares the result with want.
func checkZstdCLI(t *testing.T, b, want []byte) {
	t.Helper()
	path, err := exec.LookPath("zstd")
	if err != nil {
		t.Log("zstd(1) not installed: not checked against the reference decoder")
		return
	}
	cmd := exec.Command(path, "-dc")
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -dc: %v\n%s", err, stderr.Bytes())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("zstd -dc: %d bytes back, want the %d written", len(got), len(want))
	}
}

// failWriter accepts n bytes, then fails every write.
type failWriter struct {
	n     int
	short bool // return a short count with no error, instead of an error
}

var errFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	k := w.n
	w.n = 0
	if w.short {
		return k, nil
	}
	return k, errFull
}

// TestZstdWriteErrors: a failing underlying writer surfaces as an error from
// Write or Close, every later call returns it, and Close still returns.
func TestZstdWriteErrors(t *testing.T) {
	const fs = reproducible.ZstdFrameSize
	data := testData(3, 8*fs)
	for _, tt := range []struct {
		name string
		w    *failWriter
		size int
		want error
	}{
		{"first frame", &failWriter{}, 8 * fs, errFull},
		{"later frame", &failWriter{n: fs / 2}, 8 * fs, errFull},
		{"short write", &failWriter{n: 1000, short: true}, 8 * fs, io.ErrShortWrite},
		{"at close", &failWriter{}, 100, errFull},
		{"empty stream", &failWriter{}, 0, errFull},
	} {
		t.Run(tt.name, func(t *testing.T) {
			zw, err := reproducible.NewWriter(tt.w, reproducible.Compression{Algorithm: reproducible.Zstd})
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			for p := data[:tt.size]; len(p) > 0 && werr == nil; {
				k := min(len(p), 1<<20)
				_, werr = zw.Write(p[:k])
				p = p[k:]
			}
			cerr := zw.Close()
			if !errors.Is(cerr, tt.want) || werr != nil && !errors.Is(werr, tt.want) {
				t.Errorf("Write: %v, Close: %v; want %v", werr, cerr, tt.want)
			}
			if err := zw.Close(); !errors.Is(err, tt.want) {
				t.Errorf("second Close: %v, want %v", err, tt.want)
			}
			if _, err := zw.Write([]byte("more")); err == nil {
				t.Error("Write after a failed Close: no error")
			}
		})
	}
	t.Run("write after close", func(t *testing.T) {
		zw, err := reproducible.NewWriter(io.Discard, reproducible.Compression{Algorithm: reproducible.Zstd})
		if err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write([]byte("late")); err == nil || !strings.Contains(err.Error(), "close") {
			t.Errorf("Write after Close: %v, want an error", err)
		}
	})
}

// TestZstdImplementation: the frame size is part of what makes the bytes,
// so the recorded implementation names it.
func TestZstdImplementation(t *testing.T) {
	want := fmt.Sprintf(";frame=%d", reproducible.ZstdFrameSize)
	if !strings.HasSuffix(reproducible.ZstdImplementation, want) {
		t.Errorf("ZstdImplementation = %q, want it to end in %q", reproducible.ZstdImplementation, want)
	}
	if strings.Contains(reproducible.ZstdImplementation, "concurrency") {
		t.Errorf("ZstdImplementation = %q names a concurrency: the bytes do not depend on one", reproducible.ZstdImplementation)
	}
}
