package diff

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
)

// The verdicts of a LayerPair.
const (
	VerdictIdentical   = "identical"
	VerdictCompression = "compression"
	VerdictContent     = "content"
	VerdictOrder       = "order"
	VerdictAdded       = "added"
	VerdictRemoved     = "removed"
)

// layers aligns the layers of two images by DiffID and explains each pair
// that differs.
func (w *walker) layers(platform string, la, lb []LayerRef) ([]LayerPair, error) {
	ida, idb := diffIDsOf(la), diffIDsOf(lb)
	if len(la) == len(lb) && !slices.Equal(ida, idb) && slices.Equal(sorted(ida), sorted(idb)) {
		// The same layers in another order.
		w.add(Difference{Platform: platform, Object: ObjectLayer, Field: "order", Change: Changed,
			A: shortList(ida), B: shortList(idb), Note: "the same layers (by diff_id), in a different order"})
		var out []LayerPair
		for i := range la {
			v := VerdictIdentical
			if ida[i] != idb[i] {
				v = VerdictOrder
			}
			out = append(out, LayerPair{A: &la[i], B: &lb[i], Verdict: v})
		}
		return out, nil
	}
	var out []LayerPair
	var gapA, gapB []LayerRef
	flush := func() error {
		n := min(len(gapA), len(gapB))
		for k := 0; k < n; k++ {
			p, err := w.layerPair(platform, &gapA[k], &gapB[k])
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		for k := n; k < len(gapA); k++ {
			a := gapA[k]
			w.add(Difference{Platform: platform, Object: ObjectLayer, LayerA: intp(a.Index), Change: Removed,
				A: layerDesc(a), Note: "a layer only in a"})
			out = append(out, LayerPair{A: &a, Verdict: VerdictRemoved})
		}
		for k := n; k < len(gapB); k++ {
			b := gapB[k]
			w.add(Difference{Platform: platform, Object: ObjectLayer, LayerB: intp(b.Index), Change: Added,
				B: layerDesc(b), Note: "a layer only in b"})
			out = append(out, LayerPair{B: &b, Verdict: VerdictAdded})
		}
		gapA, gapB = nil, nil
		return nil
	}
	for _, m := range align(ida, idb) {
		switch {
		case m.i >= 0 && m.j >= 0:
			if err := flush(); err != nil {
				return nil, err
			}
			p, err := w.layerPair(platform, &la[m.i], &lb[m.j])
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		case m.i >= 0:
			gapA = append(gapA, la[m.i])
		default:
			gapB = append(gapB, lb[m.j])
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func layerDesc(l LayerRef) string {
	return fmt.Sprintf("%s (diff_id %s, %s, %d bytes)", l.Descriptor.Digest, l.DiffID, l.Descriptor.MediaType, l.Descriptor.Size)
}

func intp(i int) *int { return &i }

func diffIDsOf(ls []LayerRef) []digest.Digest {
	out := make([]digest.Digest, len(ls))
	for i, l := range ls {
		out[i] = l.DiffID
	}
	return out
}

func sorted(ds []digest.Digest) []digest.Digest {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}

func shortList(ds []digest.Digest) string {
	var s []string
	for _, d := range ds {
		s = append(s, short(d))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func short(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return d.Algorithm().String() + ":" + e
}

type match struct{ i, j int }

// align pairs equal elements along a longest common subsequence; unpaired
// ones come with -1 on the other side, in order.
func align(a, b []digest.Digest) []match {
	l := make([][]int, len(a)+1)
	for i := range l {
		l[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out []match
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, match{i, j})
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || l[i][j+1] > l[i+1][j]):
			out = append(out, match{-1, j})
			j++
		default:
			out = append(out, match{i, -1})
			i++
		}
	}
	return out
}

// layerPair explains one layer of each side.
func (w *walker) layerPair(platform string, a, b *LayerRef) (LayerPair, error) {
	p := LayerPair{A: a, B: b}
	switch {
	case a.Descriptor.Digest == b.Descriptor.Digest && a.DiffID == b.DiffID:
		p.Verdict = VerdictIdentical
		// The descriptor's other fields (annotations, media type) may
		// still differ.
		jsonDiff("", descFields(a.Descriptor), descFields(b.Descriptor), func(path, change string, x, y any) {
			w.add(Difference{Platform: platform, Object: ObjectLayer, LayerA: intp(a.Index), LayerB: intp(b.Index),
				Path: "descriptor." + path, Change: change, A: render(x), B: render(y)})
		})
		return p, nil
	case a.DiffID == b.DiffID:
		p.Verdict = VerdictCompression
		return p, w.compression(platform, a, b)
	}
	p.Verdict = VerdictContent
	return p, w.content(platform, a, b)
}

// entryInfo is what is known of one tar entry: its header fields and the
// SHA-256 of its content.
type entryInfo struct {
	name     string // as in the header
	typeflag byte
	mode     int64
	uid, gid int
	uname    string
	gname    string
	mtime    time.Time
	atime    time.Time
	ctime    time.Time
	size     int64
	linkname string
	devmajor int64
	devminor int64
	pax      map[string]string // records that are not header fields
	content  string            // "sha256:…" for regular files
}

// paxFields are the PAX keys that stand for header fields; they are
// compared as those fields.
var paxFields = map[string]bool{
	"path": true, "linkpath": true, "size": true, "uid": true, "gid": true,
	"uname": true, "gname": true, "mtime": true, "atime": true, "ctime": true,
}

// layerIndex is one layer read in full: its entries by cleaned name, their
// order, and the header formats used.
type layerIndex struct {
	entries map[string]*entryInfo
	order   []string
	formats map[string]int
	dups    int
	size    int64
}

// index streams a layer and indexes its entries, checking the DiffID.
func (w *walker) index(s Side, l *LayerRef) (*layerIndex, error) {
	fail := func(err error) (*layerIndex, error) {
		return nil, fmt.Errorf("%s: layers[%d] %s: %w", s.Name, l.Index, l.Descriptor.Digest, err)
	}
	if err := l.DiffID.Validate(); err != nil {
		return fail(fmt.Errorf("diff_id %q: %v", l.DiffID, err))
	}
	ol, err := unpack.OpenLayer(w.ctx, s.Fetcher, l.Descriptor)
	if err != nil {
		return fail(err)
	}
	defer ol.Close()
	v := l.DiffID.Algorithm().Hash()
	cr := &countReader{r: io.TeeReader(ol, v)}
	tr := tar.NewReader(cr)
	idx := &layerIndex{entries: map[string]*entryInfo{}, formats: map[string]int{}}
	for {
		if err := w.ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(fmt.Errorf("%w: %v", layer.ErrBadTar, err))
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			idx.formats["global PAX header"]++
			continue
		}
		key := h.Name
		if c, err := reproducible.CleanMemberPath(h.Name); err == nil {
			key = c
		} else if strings.Trim(h.Name, "./") == "" {
			key = "."
		}
		e := &entryInfo{
			name: h.Name, typeflag: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid,
			uname: h.Uname, gname: h.Gname, mtime: h.ModTime, atime: h.AccessTime, ctime: h.ChangeTime,
			size: h.Size, linkname: h.Linkname, devmajor: h.Devmajor, devminor: h.Devminor,
		}
		for k, v := range h.PAXRecords {
			if !paxFields[k] {
				if e.pax == nil {
					e.pax = map[string]string{}
				}
				e.pax[k] = v
			}
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA {
			sum := sha256.New()
			if _, err := io.Copy(sum, tr); err != nil {
				return fail(fmt.Errorf("%s: %w: %v", h.Name, layer.ErrBadTar, err))
			}
			e.content = "sha256:" + hex.EncodeToString(sum.Sum(nil))
		}
		idx.formats[h.Format.String()]++
		if _, dup := idx.entries[key]; dup {
			idx.dups++
		} else {
			idx.order = append(idx.order, key)
		}
		idx.entries[key] = e
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return fail(err)
	}
	if err := ol.Close(); err != nil {
		return fail(err)
	}
	if got := digest.NewDigest(l.DiffID.Algorithm(), v); got != l.DiffID {
		return fail(fmt.Errorf("uncompressed content is %s, but the config's rootfs.diff_ids[%d] says %s", got, l.Index, l.DiffID))
	}
	idx.size = cr.n
	return idx, nil
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

// content explains two layers whose DiffIDs differ, entry by entry.
func (w *walker) content(platform string, a, b *LayerRef) error {
	ia, err := w.index(w.a, a)
	if err != nil {
		return err
	}
	ib, err := w.index(w.b, b)
	if err != nil {
		return err
	}
	add := func(d Difference) {
		d.Platform, d.LayerA, d.LayerB = platform, intp(a.Index), intp(b.Index)
		w.add(d)
	}
	n := len(w.r.Differences)
	keys := slices.Clone(ia.order)
	for _, k := range ib.order {
		if _, ok := ia.entries[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		ea, inA := ia.entries[k]
		eb, inB := ib.entries[k]
		switch {
		case !inB:
			add(Difference{Object: ObjectEntry, Path: k, Change: Removed, A: ea.summary()})
		case !inA:
			add(Difference{Object: ObjectEntry, Path: k, Change: Added, B: eb.summary()})
		default:
			for _, f := range compareEntries(ea, eb) {
				add(Difference{Object: ObjectEntry, Path: k, Field: f.name, Change: f.change, A: f.a, B: f.b})
			}
		}
	}
	entriesDiffer := len(w.r.Differences) > n
	if !entriesDiffer && !slices.Equal(ia.order, ib.order) {
		i := 0
		for i < len(ia.order) && i < len(ib.order) && ia.order[i] == ib.order[i] {
			i++
		}
		add(Difference{Object: ObjectLayer, Field: "order", Change: Changed, A: at(ia.order, i), B: at(ib.order, i),
			Note: fmt.Sprintf("the same entries in a different order: entry #%d differs", i)})
	}
	if fa, fb := formatList(ia.formats), formatList(ib.formats); fa != fb {
		add(Difference{Object: ObjectLayer, Field: "tar format", Change: Changed, A: fa, B: fb,
			Note: "the tar header formats the entries use, as archive/tar reads them"})
	}
	if ia.dups != ib.dups {
		add(Difference{Object: ObjectLayer, Field: "duplicate entries", Change: Changed, A: fmt.Sprint(ia.dups), B: fmt.Sprint(ib.dups),
			Note: "paths listed more than once; the last one wins"})
	}
	if len(w.r.Differences) == n {
		add(Difference{Object: ObjectLayer, Field: "tar encoding", Change: Changed,
			A: fmt.Sprintf("%d bytes", ia.size), B: fmt.Sprintf("%d bytes", ib.size),
			Note: "the same entries, fields, order and header formats, encoded differently (padding, PAX record layout, end-of-archive blocks)"})
	}
	return nil
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(end)"
}

// formatList names the header formats a layer uses, without counts: a
// layer with one more entry in the same format does not differ in format.
func formatList(m map[string]int) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), " ")
}

type fieldDiff struct {
	name   string
	change string
	a, b   string
}

// compareEntries lists the header fields and content that differ.
func compareEntries(a, b *entryInfo) []fieldDiff {
	var out []fieldDiff
	cmpf := func(name, x, y string) {
		if x != y {
			out = append(out, fieldDiff{name, Changed, x, y})
		}
	}
	cmpf("type", typeName(a.typeflag), typeName(b.typeflag))
	cmpf("mode", fmt.Sprintf("%04o", a.mode), fmt.Sprintf("%04o", b.mode))
	cmpf("uid", fmt.Sprint(a.uid), fmt.Sprint(b.uid))
	cmpf("gid", fmt.Sprint(a.gid), fmt.Sprint(b.gid))
	cmpf("uname", a.uname, b.uname)
	cmpf("gname", a.gname, b.gname)
	cmpf("mtime", timeString(a.mtime), timeString(b.mtime))
	cmpf("atime", timeString(a.atime), timeString(b.atime))
	cmpf("ctime", timeString(a.ctime), timeString(b.ctime))
	cmpf("size", fmt.Sprint(a.size), fmt.Sprint(b.size))
	cmpf("linkname", a.linkname, b.linkname)
	if isDevice(a.typeflag) || isDevice(b.typeflag) {
		cmpf("devmajor", fmt.Sprint(a.devmajor), fmt.Sprint(b.devmajor))
		cmpf("devminor", fmt.Sprint(a.devminor), fmt.Sprint(b.devminor))
	}
	keys := slices.Sorted(maps.Keys(a.pax))
	for k := range b.pax {
		if _, ok := a.pax[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := "pax." + k
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			name = "xattr." + x
		}
		x, inA := a.pax[k]
		y, inB := b.pax[k]
		switch {
		case !inB:
			out = append(out, fieldDiff{name, Removed, x, ""})
		case !inA:
			out = append(out, fieldDiff{name, Added, "", y})
		default:
			cmpf(name, x, y)
		}
	}
	cmpf("content", a.content, b.content)
	// The same path spelt differently in the header ("./etc/" vs "etc/").
	cmpf("name", a.name, b.name)
	return out
}

func isDevice(t byte) bool { return t == tar.TypeChar || t == tar.TypeBlock }

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func typeName(t byte) string {
	switch t {
	case tar.TypeReg:
		return "file"
	case tar.TypeRegA:
		return "file (old type '\\x00')"
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeChar:
		return "char"
	case tar.TypeBlock:
		return "block"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("type %q", t)
}

// summary describes an entry added or removed.
func (e *entryInfo) summary() string {
	s := fmt.Sprintf("%s %04o %d:%d", typeName(e.typeflag), e.mode, e.uid, e.gid)
	switch e.typeflag {
	case tar.TypeReg, tar.TypeRegA:
		s += fmt.Sprintf(" %d bytes %s", e.size, e.content)
	case tar.TypeSymlink, tar.TypeLink:
		s += " -> " + e.linkname
	}
	return s
}
