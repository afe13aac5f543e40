package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// headWriter keeps the first bytes written and counts the rest.
type headWriter struct {
	head []byte
	n    int64
}

func (w *headWriter) Write(p []byte) (int, error) {
	if room := 4096 - len(w.head); room > 0 {
		w.head = append(w.head, p[:min(room, len(p))]...)
	}
	w.n += int64(len(p))
	return len(p), nil
}

// TestFileOver8GiB builds a layer holding a sparse file of 8 GiB + 1 byte,
// one more than a USTAR size field holds: the header needs a PAX size
// record. The file is really read (zeros from a sparse file) and hashed,
// with no compression: about 10 s on 2 idle cores, so -short skips it.
func TestFileOver8GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("reads and hashes 8 GiB; runs without -short (make test, CI)")
	}
	const size = 8<<30 + 1
	dir := t.TempDir()
	p := filepath.Join(dir, "big")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err := loadSpec(t, writeSpec(t, dir, entries(map[string]any{"type": "file", "path": "/data/big", "source": "big"})))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var w headWriter
	m, err := layer.Build(context.Background(), &w, s, layer.BuildOptions{Compression: reproducible.Compression{Algorithm: reproducible.None}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %d bytes in %v", w.n, time.Since(start))
	// A PAX header (block + records block), the USTAR header, the data
	// padded to a block, two zero blocks.
	want := int64(512+512+512) + (size+511)/512*512 + 1024
	if w.n != want || m.UncompressedSize != want {
		t.Errorf("layer is %d bytes (metadata says %d), want %d", w.n, m.UncompressedSize, want)
	}
	h, err := tar.NewReader(bytes.NewReader(w.head)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "data/big" || h.Size != size || h.Format != tar.FormatPAX || h.PAXRecords["size"] != strconv.Itoa(size) {
		t.Errorf("header: name %q size %d format %v PAX %v; want data/big, %d, PAX with a size record", h.Name, h.Size, h.Format, h.PAXRecords, size)
	}
}
