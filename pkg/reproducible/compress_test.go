package reproducible_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// testData returns n bytes that compress roughly like program binaries:
// words of a random vocabulary with runs of random bytes between them.
func testData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	vocab := make([][]byte, 1024)
	for i := range vocab {
		vocab[i] = make([]byte, 2+r.IntN(12))
		for j := range vocab[i] {
			vocab[i][j] = byte(r.Uint32())
		}
	}
	out := make([]byte, 0, n+32)
	for len(out) < n {
		if r.IntN(16) == 0 {
			for k := r.IntN(16); k > 0; k-- {
				out = append(out, byte(r.Uint32()))
			}
			continue
		}
		f := r.Float64()
		out = append(out, vocab[int(f*f*f*float64(len(vocab)))]...)
	}
	return out[:n]
}

func compress(t testing.TB, c reproducible.Compression, data []byte, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := reproducible.NewWriter(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestNewWriterDeterministic is the proof DESIGN.md asks of parallel
// compression: the bytes depend on the data, the algorithm and the level,
// never on GOMAXPROCS (gzip's blocks and zstd's frames are compressed by as
// many workers as it allows, up to 4) or on how the data was cut into
// writes. zstd_test.go adds more frames than are ever in flight, and frames
// compressed by encoders in different states.
func TestNewWriterDeterministic(t *testing.T) {
	data := testData(1, 10<<20)
	for _, c := range []reproducible.Compression{
		{Algorithm: reproducible.Gzip},
		{Algorithm: reproducible.Gzip, Level: 1},
		{Algorithm: reproducible.Gzip, Level: 9},
		{Algorithm: reproducible.Zstd},
		{Algorithm: reproducible.Zstd, Level: 1},
		{Algorithm: reproducible.Zstd, Level: 9},
		{Algorithm: reproducible.None},
	} {
		t.Run(fmt.Sprintf("%s-%d", c.Algorithm, c.Level), func(t *testing.T) {
			var first []byte
			var firstName string
			for _, run := range []struct {
				procs, chunk int
			}{{1, 1 << 20}, {2, 1 << 20}, {8, 1 << 20}, {8, 4093}, {1, 3 << 20}, {2, 10 << 20}, {3, 4<<20 + 1}, {4, 65536}} {
				name := fmt.Sprintf("GOMAXPROCS=%d writes of %d", run.procs, run.chunk)
				old := runtime.GOMAXPROCS(run.procs)
				got := compress(t, c, data, run.chunk)
				runtime.GOMAXPROCS(old)
				if first == nil {
					first, firstName = got, name
					continue
				}
				if !bytes.Equal(got, first) {
					t.Errorf("%s: %d bytes sha256:%x; %s: %d bytes sha256:%x", firstName, len(first), sha256.Sum256(first), name, len(got), sha256.Sum256(got))
				}
			}
			r, err := reproducible.NewReader(bytes.NewReader(first), c.Algorithm)
			if err != nil {
				t.Fatal(err)
			}
			back, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, data) {
				t.Errorf("decompressed %d bytes differ from the %d written", len(back), len(data))
			}
			if c.Algorithm != reproducible.None && len(first) >= len(data)*3/4 {
				t.Errorf("compressed %d bytes to %d: the test data should compress", len(data), len(first))
			}
		})
	}
}

// TestGzipHeader checks the gzip member header (RFC 1952 section 2.3): no
// modification time, no file name, no comment, OS "unknown".
func TestGzipHeader(t *testing.T) {
	for _, level := range []int{0, 1, 6, 9} {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			b := compress(t, reproducible.Compression{Algorithm: reproducible.Gzip, Level: level}, testData(2, 3<<20), 1<<20)
			if b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
				t.Fatalf("magic and method % x, want 1f 8b 08", b[:3])
			}
			const fname, fcomment, fextra = 0x08, 0x10, 0x04
			if flg := b[3]; flg&(fname|fcomment|fextra) != 0 {
				t.Errorf("FLG %#02x has FNAME, FCOMMENT or FEXTRA set", flg)
			}
			if mtime := binary.LittleEndian.Uint32(b[4:8]); mtime != 0 {
				t.Errorf("MTIME = %d, want 0", mtime)
			}
			if os := b[9]; os != 255 {
				t.Errorf("OS = %d, want 255 (unknown)", os)
			}
			if got := reproducible.Detect(b); got != reproducible.Gzip {
				t.Errorf("Detect = %q, want gzip", got)
			}
		})
	}
}

func TestEmptyStreams(t *testing.T) {
	// An empty layer still has a valid stream, the same every time.
	for _, alg := range []reproducible.Algorithm{reproducible.Gzip, reproducible.Zstd} {
		a := compress(t, reproducible.Compression{Algorithm: alg}, nil, 1)
		b := compress(t, reproducible.Compression{Algorithm: alg}, nil, 1)
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: empty stream %x, then %x", alg, a, b)
		}
		if got := reproducible.Detect(a); got != alg {
			t.Errorf("%s: Detect(empty stream %x) = %q", alg, a, got)
		}
	}
}

func TestCompressionResolved(t *testing.T) {
	tests := []struct {
		in      reproducible.Compression
		want    reproducible.Compression
		wantErr string
	}{
		{in: reproducible.Compression{}, want: reproducible.Compression{Algorithm: reproducible.Gzip, Level: 6}},
		{in: reproducible.Compression{Algorithm: "gzip", Level: 1}, want: reproducible.Compression{Algorithm: reproducible.Gzip, Level: 1}},
		{in: reproducible.Compression{Algorithm: "gzip", Level: 9}, want: reproducible.Compression{Algorithm: reproducible.Gzip, Level: 9}},
		{in: reproducible.Compression{Algorithm: "zstd"}, want: reproducible.Compression{Algorithm: reproducible.Zstd, Level: 3}},
		{in: reproducible.Compression{Algorithm: "zstd", Level: 22}, want: reproducible.Compression{Algorithm: reproducible.Zstd, Level: 22}},
		{in: reproducible.Compression{Algorithm: "none", Level: 5}, want: reproducible.Compression{Algorithm: reproducible.None}},
		{in: reproducible.Compression{Algorithm: "gzip", Level: 10}, wantErr: "gzip level 10: want 1..9"},
		{in: reproducible.Compression{Algorithm: "gzip", Level: -1}, wantErr: "gzip level -1: want 1..9"},
		{in: reproducible.Compression{Algorithm: "zstd", Level: 23}, wantErr: "zstd level 23: want 1..22"},
		{in: reproducible.Compression{Algorithm: "xz"}, wantErr: `compression "xz": want gzip, zstd or none`},
		{in: reproducible.Compression{Algorithm: "GZIP"}, wantErr: `compression "GZIP"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d", tt.in.Algorithm, tt.in.Level), func(t *testing.T) {
			got, err := tt.in.Resolved()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolved() = %+v, %v; want error containing %q", got, err, tt.wantErr)
				}
				if _, err := reproducible.NewWriter(io.Discard, tt.in); err == nil {
					t.Errorf("NewWriter accepted %+v", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolved (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMediaTypeAndImplementation(t *testing.T) {
	tests := []struct {
		alg       reproducible.Algorithm
		mediaType string
		impl      string
	}{
		{reproducible.Gzip, ocispec.MediaTypeImageLayerGzip, reproducible.GzipImplementation},
		{reproducible.Zstd, ocispec.MediaTypeImageLayerZstd, reproducible.ZstdImplementation},
		{reproducible.None, ocispec.MediaTypeImageLayer, ""},
	}
	for _, tt := range tests {
		c := reproducible.Compression{Algorithm: tt.alg}
		if got := c.MediaType(); got != tt.mediaType {
			t.Errorf("%s: MediaType() = %q, want %q", tt.alg, got, tt.mediaType)
		}
		if got := c.Implementation(); got != tt.impl {
			t.Errorf("%s: Implementation() = %q, want %q", tt.alg, got, tt.impl)
		}
	}
}

// TestImplementationVersions keeps the recorded implementation strings equal
// to the library versions in go.mod: upgrading a compressor must show up as a
// change to these constants (and, usually, to the golden digests).
func TestImplementationVersions(t *testing.T) {
	// Test binaries carry no dependency list, so read go.mod (two levels up:
	// pkg/reproducible is the test's working directory).
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && strings.Contains(f[0], ".") {
			versions[f[0]] = f[1]
		}
	}
	for _, tt := range []struct{ impl, module string }{
		{reproducible.GzipImplementation, "github.com/klauspost/pgzip"},
		{reproducible.GzipImplementation, "github.com/klauspost/compress"},
		{reproducible.ZstdImplementation, "github.com/klauspost/compress"},
	} {
		v, ok := versions[tt.module]
		if !ok {
			t.Fatalf("go.mod does not require %s", tt.module)
		}
		if want := tt.module + "@" + v; !strings.Contains(tt.impl, want) {
			t.Errorf("implementation %q does not name %s (go.mod's version)", tt.impl, want)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		head []byte
		want reproducible.Algorithm
	}{
		{[]byte{0x1f, 0x8b, 8, 0}, reproducible.Gzip},
		{[]byte{0x1f, 0x8b}, reproducible.Gzip},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, reproducible.Zstd},
		{[]byte{0x28, 0xb5, 0x2f}, reproducible.None},
		{[]byte("usr/"), reproducible.None},
		{nil, reproducible.None},
		{[]byte{0x1f}, reproducible.None},
	}
	for _, tt := range tests {
		if got := reproducible.Detect(tt.head); got != tt.want {
			t.Errorf("Detect(% x) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

func TestNewReaderErrors(t *testing.T) {
	if _, err := reproducible.NewReader(strings.NewReader("x"), "xz"); err == nil || !strings.Contains(err.Error(), `"xz"`) {
		t.Errorf("NewReader(xz): %v, want an error naming xz", err)
	}
	r, err := reproducible.NewReader(strings.NewReader("not gzip at all"), reproducible.Gzip)
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err == nil {
		t.Error("NewReader(gzip) of garbage: no error")
	}
	zr, err := reproducible.NewReader(strings.NewReader("not zstd at all"), reproducible.Zstd)
	if err == nil {
		_, err = io.ReadAll(zr)
	}
	if err == nil {
		t.Error("NewReader(zstd) of garbage: no error")
	}
}
