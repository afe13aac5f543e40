package reproducible

import (
	"bytes"
	"crypto/sha256"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestZstdEncoderReuse is the ground under framedZstdWriter's determinism:
// a frame's bytes must not depend on what its encoder compressed before.
// klauspost's encoder keeps its match tables between EncodeAll calls and, at
// each frame, moves a position counter past the old entries instead of
// clearing them. When the counter nears 2 GiB it wraps: at a frame's first
// block the tables are cleared, at a later block they are shifted. Which
// encoder gets which frame depends on timing, so encoders at different points
// of that cycle must write the same frames.
//
// Production frames (4 MiB, a 4 MiB window) wrap every ~256 frames, 1 GiB of
// input. Here a 32 MiB window advances the counter by window+frame, 32.25 MiB,
// a frame: a fresh encoder wraps every ~61 frames of 256 KiB (two blocks),
// at a first block. Encoder b first compresses one frame of a size chosen to
// put its frame 59 just 64 KiB short of the wrap: it wraps at that frame's
// second block, shifting its tables. (This arithmetic follows
// klauspost/compress v1.20.5; were it to change, the test would still compare
// the same frames, perhaps without reaching both paths.)
func TestZstdEncoderReuse(t *testing.T) {
	const (
		frame, frames = 256 << 10, 150
		window        = 32 << 20
		wrapAt        = math.MaxInt32 - 2*window // the encoder's bufferReset
		// b's frame n>=1 starts at counter window*(n+1) + warm + (n-1)*frame.
		warm = wrapAt - 64<<10 - (61*window + 59*frame)
	)
	opts := append(zstdOptions(3, frame), zstd.WithWindowSize(window))
	data := make([]byte, frame*frames)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(data); {
		// Runs of random bytes and copies of earlier data: matches near
		// and far, within a frame and across frame boundaries.
		n := 1 + r.IntN(64)
		if i > 4096 && r.IntN(3) > 0 {
			from := r.IntN(i - n)
			i += copy(data[i:min(i+n, len(data))], data[from:from+n])
			continue
		}
		for end := min(i+n, len(data)); i < end; i++ {
			data[i] = byte(r.Uint32())
		}
	}
	newEnc := func() *zstd.Encoder {
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	// a starts fresh; b is out of phase by one frame of warm bytes.
	a, b := newEnc(), newEnc()
	b.EncodeAll(data[:warm], nil)
	var want []byte
	for i := range frames {
		src := data[i*frame : (i+1)*frame]
		fa := a.EncodeAll(src, nil)
		if fb := b.EncodeAll(src, nil); !bytes.Equal(fa, fb) {
			t.Fatalf("frame %d: encoders in different phases wrote sha256:%x and sha256:%x", i, sha256.Sum256(fa), sha256.Sum256(fb))
		}
		if i%10 == 0 || i == frames-1 {
			if ff := newEnc().EncodeAll(src, nil); !bytes.Equal(fa, ff) {
				t.Fatalf("frame %d: a used encoder wrote sha256:%x, a new one sha256:%x", i, sha256.Sum256(fa), sha256.Sum256(ff))
			}
		}
		want = append(want, fa...)
	}
	// The writer, with one worker (one encoder, every frame) and with three.
	for _, workers := range []int{1, 3} {
		var buf bytes.Buffer
		z := newFramedZstdWriter(&buf, frame, workers, opts)
		for p := data; len(p) > 0; {
			n := min(len(p), 100_003)
			if _, err := z.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%d workers: sha256:%x, want the frames one by one, sha256:%x", workers, sha256.Sum256(buf.Bytes()), sha256.Sum256(want))
		}
	}
}
