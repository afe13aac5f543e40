package layer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// FromDiffOptions change what FromDiff counts as a change. The zero value
// compares content, type, permission bits, symlink targets and device
// numbers only.
type FromDiffOptions struct {
	// PreserveModTimes takes each entry's mtime from UPPER (whole seconds)
	// and counts a changed mtime as a change. By default mtimes are neither
	// compared nor kept: entries get NewSpec's default time, so that
	// touching a file (a checkout, a copy) changes no layer.
	PreserveModTimes bool
	// PreserveOwners takes uid and gid from UPPER and counts a changed
	// owner as a change. By default owners are 0:0 and not compared.
	PreserveOwners bool
}

// FromDiff returns the changeset that turns the directory tree LOWER into
// the directory tree UPPER, as entries for NewSpec: applied on LOWER (as a
// layer above it) it gives exactly UPPER. Neither tree's root is an entry;
// symlinks are never followed.
//
//   - A path only in UPPER, or changed (type, permission bits, content,
//     symlink target, device numbers, and owner or mtime when asked), is an
//     entry with UPPER's metadata; a file's bytes are read from UPPER when
//     the layer is built. A directory whose own metadata is unchanged is not
//     an entry: only what changed below it is.
//   - A path only in LOWER is a Whiteout, except below an opaque directory.
//   - A directory present in both trees whose LOWER children, two or
//     more, are all gone from UPPER (it was emptied, or emptied and
//     refilled with new names) is an Opaque entry followed by UPPER's
//     children, all as new: one marker instead of a whiteout per lower
//     child. When any LOWER child survives under its name, or there was
//     only one, whiteouts are used.
//   - Regular files of UPPER that share an inode are hard links to the
//     first of them (in path order). A group is written whole (the file and
//     every link) whenever any member changed, or when the sharing differs
//     from LOWER's; otherwise it is left out.
//
// Sockets, and devices off Linux, are errors (*PathError wrapping
// ErrBadSource); so are names NewSpec refuses, such as ".wh." ones.
func FromDiff(lower, upper string, opts FromDiffOptions) ([]Entry, error) {
	for _, d := range []string{lower, upper} {
		fi, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSource, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: %s is not a directory", ErrBadSource, d)
		}
	}
	d := &differ{
		lower: lower, upper: upper, opts: opts,
		at:      map[string]int{},
		upLinks: map[inodeKey][]string{},
		loLinks: map[inodeKey][]string{},
		upKey:   map[string]inodeKey{},
		loKey:   map[string]inodeKey{},
		loFile:  map[string]bool{},
	}
	if err := d.walk("", true); err != nil {
		return nil, err
	}
	if err := d.hardlinks(); err != nil {
		return nil, err
	}
	slices.SortFunc(d.out, func(a, b Entry) int { return strings.Compare(a.tarName(), b.tarName()) })
	return d.out, nil
}

type inodeKey struct{ dev, ino uint64 }

type differ struct {
	lower, upper string
	opts         FromDiffOptions
	out          []Entry
	at           map[string]int // path -> index in out of its entry
	// upLinks groups UPPER's regular files by inode (only those with more
	// than one link); loLinks groups UPPER's regular files by the inode of
	// the same path in LOWER (again only when LOWER's has more than one).
	upLinks, loLinks map[inodeKey][]string
	upKey, loKey     map[string]inodeKey
	// loFile: the path is a regular file in LOWER too.
	loFile map[string]bool
}

func (d *differ) host(root, rel string) string {
	if rel == "" {
		return root
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

func (d *differ) emit(e Entry) {
	if i, ok := d.at[e.tarName()]; ok {
		d.out[i] = e
		return
	}
	d.at[e.tarName()] = len(d.out)
	d.out = append(d.out, e)
}

// walk compares the directory rel of UPPER with LOWER's (lowerDir: LOWER
// has a directory there whose children still count).
func (d *differ) walk(rel string, lowerDir bool) error {
	unames, err := reproducible.ReadDirNames(d.host(d.upper, rel))
	if err != nil {
		return &PathError{Op: "diff", Path: rel, Source: d.host(d.upper, rel), Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
	}
	var lnames []string
	if lowerDir {
		if lnames, err = reproducible.ReadDirNames(d.host(d.lower, rel)); err != nil {
			return &PathError{Op: "diff", Path: rel, Source: d.host(d.lower, rel), Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
		}
	}
	inUpper := make(map[string]bool, len(unames))
	for _, n := range unames {
		inUpper[n] = true
	}
	survivors := 0
	for _, n := range lnames {
		if inUpper[n] {
			survivors++
		}
	}
	if rel != "" && len(lnames) > 1 && survivors == 0 {
		d.emit(Entry{Path: rel, Kind: Opaque, Origin: "opaque: every child of " + d.host(d.lower, rel) + " is gone"})
		lowerDir = false
	}
	for _, n := range lnames {
		if lowerDir && !inUpper[n] {
			p := joinPath(rel, n)
			d.emit(Entry{Path: p, Kind: Whiteout, Origin: "whiteout: " + d.host(d.lower, p) + " is gone"})
		}
	}
	for _, n := range unames {
		p := joinPath(rel, n)
		ufi, err := os.Lstat(d.host(d.upper, p))
		if err != nil {
			return &PathError{Op: "diff", Path: p, Source: d.host(d.upper, p), Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
		}
		var lfi fs.FileInfo
		if lowerDir {
			lfi, err = os.Lstat(d.host(d.lower, p))
			if errors.Is(err, fs.ErrNotExist) {
				lfi = nil
			} else if err != nil {
				return &PathError{Op: "diff", Path: p, Source: d.host(d.lower, p), Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
			}
		}
		e, err := d.entry(p, ufi)
		if err != nil {
			return err
		}
		changed := lfi == nil
		if !changed {
			if changed, err = d.changed(p, lfi, ufi); err != nil {
				return err
			}
		}
		if changed {
			d.emit(e)
		}
		if e.Kind == File {
			d.noteFile(p, ufi, lfi)
		}
		if ufi.IsDir() {
			if err := d.walk(p, lfi != nil && lfi.IsDir()); err != nil {
				return err
			}
		}
	}
	return nil
}

// noteFile records the inodes of a regular file of UPPER and of the same
// path in LOWER, for hardlinks.
func (d *differ) noteFile(p string, ufi, lfi fs.FileInfo) {
	if k, n, ok := inodeOf(ufi); ok && n > 1 {
		d.upKey[p] = k
		d.upLinks[k] = append(d.upLinks[k], p)
	}
	if lfi != nil && lfi.Mode().IsRegular() {
		d.loFile[p] = true
		if k, n, ok := inodeOf(lfi); ok && n > 1 {
			d.loKey[p] = k
			d.loLinks[k] = append(d.loLinks[k], p)
		}
	}
}

// hardlinks writes every group of UPPER paths sharing an inode whose
// members changed or whose sharing differs from LOWER's, as a file and
// hard links to it.
func (d *differ) hardlinks() error {
	groupOf := func(p string, key map[string]inodeKey, links map[inodeKey][]string) []string {
		if k, ok := key[p]; ok {
			return links[k]
		}
		return []string{p}
	}
	done := map[string]bool{}
	var candidates []string
	for _, g := range d.upLinks {
		candidates = append(candidates, g...)
	}
	for _, g := range d.loLinks {
		candidates = append(candidates, g...)
	}
	slices.Sort(candidates)
	for _, p := range candidates {
		if done[p] {
			continue
		}
		up := groupOf(p, d.upKey, d.upLinks)
		need := false
		for _, m := range up {
			_, emitted := d.at[m]
			lo := groupOf(m, d.loKey, d.loLinks)
			if emitted || !d.loFile[m] || !sameSet(lo, up) {
				need = true
			}
		}
		for _, m := range up {
			done[m] = true
		}
		if !need {
			continue
		}
		members := slices.Sorted(slices.Values(up))
		for i, m := range members {
			fi, err := os.Lstat(d.host(d.upper, m))
			if err != nil {
				return &PathError{Op: "diff", Path: m, Source: d.host(d.upper, m), Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
			}
			e, err := d.entry(m, fi)
			if err != nil {
				return err
			}
			if i > 0 {
				e.Kind, e.Linkname, e.Source = Hardlink, members[0], nil
			}
			d.emit(e)
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]bool, len(a))
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// entry describes the UPPER path p.
func (d *differ) entry(p string, fi fs.FileInfo) (Entry, error) {
	host := d.host(d.upper, p)
	e := Entry{Path: p, Mode: unixPerm(fi.Mode()), Origin: "upper " + host}
	if d.opts.PreserveOwners {
		uid, _ := statField(fi, "Uid")
		gid, _ := statField(fi, "Gid")
		e.UID, e.GID = int(uid), int(gid)
	}
	if d.opts.PreserveModTimes {
		e.ModTime = fi.ModTime().UTC().Truncate(time.Second)
	}
	m := fi.Mode()
	switch {
	case m.IsRegular():
		e.Kind, e.Source = File, &DiskFile{Path: host, size: fi.Size()}
	case m.IsDir():
		e.Kind = Dir
	case m&fs.ModeSymlink != 0:
		t, err := os.Readlink(host)
		if err != nil {
			return Entry{}, &PathError{Op: "diff", Path: p, Source: host, Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
		}
		e.Kind, e.Linkname, e.Mode = Symlink, t, 0o777
	case m&fs.ModeNamedPipe != 0:
		e.Kind = Fifo
	case m&fs.ModeDevice != 0:
		major, minor, err := deviceNumbers(fi)
		if err != nil {
			return Entry{}, &PathError{Op: "diff", Path: p, Source: host, Err: err}
		}
		e.Kind, e.Devmajor, e.Devminor = BlockDevice, major, minor
		if m&fs.ModeCharDevice != 0 {
			e.Kind = CharDevice
		}
	default:
		return Entry{}, &PathError{Op: "diff", Path: p, Source: host, Err: fmt.Errorf("%w: a %s cannot be stored in a layer", ErrBadSource, fileType(m))}
	}
	return e, nil
}

// changed reports whether p differs between LOWER (lfi) and UPPER (ufi).
func (d *differ) changed(p string, lfi, ufi fs.FileInfo) (bool, error) {
	lm, um := lfi.Mode(), ufi.Mode()
	if lm.Type() != um.Type() {
		return true, nil
	}
	if um&fs.ModeSymlink == 0 && unixPerm(lm) != unixPerm(um) {
		return true, nil
	}
	if d.opts.PreserveOwners {
		for _, f := range []string{"Uid", "Gid"} {
			a, _ := statField(lfi, f)
			b, _ := statField(ufi, f)
			if a != b {
				return true, nil
			}
		}
	}
	if d.opts.PreserveModTimes && lfi.ModTime().Unix() != ufi.ModTime().Unix() {
		return true, nil
	}
	lh, uh := d.host(d.lower, p), d.host(d.upper, p)
	switch {
	case um.IsRegular():
		if lfi.Size() != ufi.Size() {
			return true, nil
		}
		same, err := sameContent(lh, uh)
		if err != nil {
			return false, &PathError{Op: "diff", Path: p, Source: uh, Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
		}
		return !same, nil
	case um&fs.ModeSymlink != 0:
		a, err := os.Readlink(lh)
		if err != nil {
			return false, &PathError{Op: "diff", Path: p, Source: lh, Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
		}
		b, err := os.Readlink(uh)
		if err != nil {
			return false, &PathError{Op: "diff", Path: p, Source: uh, Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
		}
		return a != b, nil
	case um&fs.ModeDevice != 0:
		a, _ := statField(lfi, "Rdev")
		b, _ := statField(ufi, "Rdev")
		return a != b, nil
	}
	return false, nil
}

// sameContent compares two files' bytes in constant memory.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		aDone := ea == io.EOF || ea == io.ErrUnexpectedEOF
		bDone := eb == io.EOF || eb == io.ErrUnexpectedEOF
		if ea != nil && !aDone {
			return false, ea
		}
		if eb != nil && !bDone {
			return false, eb
		}
		if aDone || bDone {
			return aDone == bDone, nil
		}
	}
}

// unixPerm converts Go's mode bits to tar's 07777.
func unixPerm(m fs.FileMode) int64 {
	p := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// statField reads a numeric field of fi.Sys() (a *syscall.Stat_t on Unix)
// by name. Reflection keeps this file free of per-OS variants: the field
// types differ between systems (Nlink is uint16 on Darwin, uint64 on Linux)
// and Windows has no Stat_t at all, where this reports false.
func statField(fi fs.FileInfo, name string) (uint64, bool) {
	v := reflect.ValueOf(fi.Sys())
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	f := v.FieldByName(name)
	switch {
	case !f.IsValid():
		return 0, false
	case f.CanInt():
		return uint64(f.Int()), true
	case f.CanUint():
		return f.Uint(), true
	}
	return 0, false
}

func inodeOf(fi fs.FileInfo) (inodeKey, uint64, bool) {
	dev, ok1 := statField(fi, "Dev")
	ino, ok2 := statField(fi, "Ino")
	n, ok3 := statField(fi, "Nlink")
	return inodeKey{dev, ino}, n, ok1 && ok2 && ok3
}

// deviceNumbers decodes a Linux device number (glibc's encoding).
func deviceNumbers(fi fs.FileInfo) (major, minor int64, err error) {
	rdev, ok := statField(fi, "Rdev")
	if runtime.GOOS != "linux" || !ok {
		return 0, 0, fmt.Errorf("%w: device numbers are read on Linux only", ErrBadSource)
	}
	major = int64(((rdev >> 8) & 0xfff) | ((rdev >> 32) &^ 0xfff))
	minor = int64((rdev & 0xff) | ((rdev >> 12) &^ 0xff))
	return major, minor, nil
}
