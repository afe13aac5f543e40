// Package unpack applies OCI layers to a directory, as the image-spec's
// changeset rules say (whiteouts, opaque directories), treating every tar
// header as hostile: no entry, symlink or hard link can make it write
// outside the directory.
//
// Paths are resolved inside the root like a container's "/" would resolve
// them: a symlink an earlier entry or layer planted is followed, but an
// absolute target restarts at the root and ".." stops there (see root).
// Names that climb out of the root ("../x"), absolute names, malformed
// whiteouts and hard links to targets outside the root or missing from it are
// errors naming the entry; layer.Reader rejects most of them while reading,
// and the Unpacker checks again itself.
//
// What a file system cannot hold for an unprivileged caller (owners, device
// nodes, xattrs) is recorded in the Result, and applied only where asked
// and possible. docs/unpack.md describes the rules.
package unpack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// Options change how layers are applied. The zero value records owners
// without applying them and creates device nodes only when it can (root, on
// Linux).
type Options struct {
	// ApplyOwners sets every entry's uid and gid on disk. It needs an
	// effective uid of 0; New refuses it otherwise. Without it owners are
	// only recorded in the Result.
	ApplyOwners bool
	// SkipDevices never creates character or block devices. They are
	// always skipped, with a Skipped record, when the process is not root
	// or not on Linux, because mknod needs both.
	SkipDevices bool
	// OwnerAccess keeps owner read and write permission (and search, on
	// directories) on everything written, whatever the entry's mode, so that
	// an unprivileged caller can read the tree back; the Result keeps the
	// entry's real mode. Flatten uses it.
	OwnerAccess bool
}

// Skipped is an entry that was recorded but not created on disk.
type Skipped struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// Result describes the unpacked tree.
type Result struct {
	// Entries are every path in the directory, sorted, with the metadata
	// their headers gave: what the disk may not hold (owners when not
	// applied, mtimes of symlinks, xattrs, skipped devices). A hard link
	// appears as a copy of its target's entry; the disk's inodes say which
	// paths share content. Sources are nil. Skipped devices are here too.
	Entries []layer.Entry
	// Skipped lists the entries recorded but not created.
	Skipped []Skipped
}

// Unpacker applies layers, lowest first, to one directory.
type Unpacker struct {
	r       root
	opts    Options
	mknod   bool
	entries map[string]*layer.Entry
	skipped map[string]Skipped
	// cur holds the resolved paths the layer being applied created, and
	// curAnc their ancestors: whiteouts and opaque markers apply only to
	// lower layers, never to entries of their own layer.
	cur, curAnc map[string]bool
	err         error // sticky
	done        bool
}

// New returns an Unpacker writing into dir, an existing directory that
// should be empty: what it already holds is treated as a lower layer whose
// metadata is unknown.
func New(dir string, opts Options) (*Unpacker, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	if opts.ApplyOwners && os.Geteuid() != 0 {
		return nil, fmt.Errorf("applying owners needs root (effective uid 0, have %d)", os.Geteuid())
	}
	return &Unpacker{
		r:       root{dir: abs},
		opts:    opts,
		mknod:   !opts.SkipDevices && canMknod(),
		entries: map[string]*layer.Entry{},
		skipped: map[string]Skipped{},
	}, nil
}

func canMknod() bool { return runtime.GOOS == "linux" && os.Geteuid() == 0 }

// Apply unpacks the uncompressed layer tar streams into dir, in order, and
// returns what it wrote. On error dir holds a partial tree.
func Apply(ctx context.Context, dir string, opts Options, layers ...io.Reader) (Result, error) {
	u, err := New(dir, opts)
	if err != nil {
		return Result{}, err
	}
	for i, l := range layers {
		if err := u.ApplyLayer(ctx, l); err != nil {
			return Result{}, fmt.Errorf("layers[%d]: %w", i, err)
		}
	}
	return u.Finish()
}

// ApplyLayer applies one uncompressed layer tar stream. It reads r up to
// the end of the archive; the caller drains what follows if it hashes it.
// An error names the entry; after one, every call fails.
func (u *Unpacker) ApplyLayer(ctx context.Context, r io.Reader) error {
	if u.err != nil {
		return u.err
	}
	if u.done {
		return errors.New("unpack: ApplyLayer after Finish")
	}
	u.cur, u.curAnc = map[string]bool{}, map[string]bool{}
	tr := layer.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			u.err = err
			return err
		}
		e, h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			u.err = err
			return err
		}
		if err := u.apply(e, tr); err != nil {
			u.err = fmt.Errorf("%s: %w", h.Name, err)
			return u.err
		}
	}
}

// apply writes one entry; content is the file's bytes.
func (u *Unpacker) apply(e *layer.Entry, content io.Reader) error {
	// layer.Reader has cleaned and checked the name; check again rather
	// than rely on it.
	p, err := reproducible.CleanMemberPath(e.Path)
	if err != nil {
		return fmt.Errorf("%w: %v", layer.ErrUnsafePath, err)
	}
	if p != e.Path {
		return fmt.Errorf("%w: %q is not a clean path", layer.ErrUnsafePath, e.Path)
	}
	switch e.Kind {
	case layer.Whiteout:
		return u.whiteout(p)
	case layer.Opaque:
		return u.opaque(p)
	}
	dir, base := splitRel(p)
	if strings.HasPrefix(base, layer.WhiteoutPrefix) {
		return fmt.Errorf("%w: %q is a whiteout name", layer.ErrUnsafePath, base)
	}
	rdir, err := u.r.resolveDir(dir, true, u.madeParent)
	if err != nil {
		return err
	}
	rel := joinRel(rdir, base)
	if e.Kind == layer.Hardlink {
		return u.link(e, rel)
	}
	host := u.r.host(rel)
	u.forgetSkipped(rel) // a device skipped here before is replaced
	fi, lerr := os.Lstat(host)
	if lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
		return lerr
	}
	if lerr == nil {
		if fi.IsDir() && e.Kind == layer.Dir {
			// A directory over a directory merges: the lower children
			// stay, the metadata is the new entry's (applied in Finish).
			u.record(rel, e)
			return nil
		}
		if err := u.remove(rel); err != nil {
			return err
		}
	}
	switch e.Kind {
	case layer.File:
		err = u.writeFile(host, e, content)
	case layer.Dir:
		err = os.Mkdir(host, 0o700)
		if err == nil && u.opts.ApplyOwners {
			err = os.Lchown(host, e.UID, e.GID)
		}
	case layer.Symlink:
		err = os.Symlink(e.Linkname, host)
		if err == nil && u.opts.ApplyOwners {
			err = os.Lchown(host, e.UID, e.GID)
		}
		if err == nil {
			err = lutimes(host, e.ModTime)
		}
	case layer.Fifo:
		err = mkfifo(host)
		if err == nil {
			err = u.finishSpecial(host, e)
		}
	case layer.CharDevice, layer.BlockDevice:
		if !u.mknod {
			reason := "not running as root on Linux"
			if u.opts.SkipDevices {
				reason = "devices are skipped (SkipDevices)"
			}
			u.skipped[rel] = Skipped{Path: rel, Kind: e.Kind.String(), Reason: reason}
			break
		}
		err = mknod(host, e.Kind == layer.BlockDevice, e.Devmajor, e.Devminor)
		if err == nil {
			err = u.finishSpecial(host, e)
		}
	default:
		return fmt.Errorf("%w: entry kind %v", layer.ErrBadTar, e.Kind)
	}
	if err != nil {
		return err
	}
	u.record(rel, e)
	return nil
}

func (u *Unpacker) writeFile(host string, e *layer.Entry, content io.Reader) (err error) {
	f, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(f, content); err != nil {
		return err
	}
	if u.opts.ApplyOwners {
		if err := f.Chown(e.UID, e.GID); err != nil {
			return err
		}
	}
	// After chown, which clears setuid and setgid.
	if err := f.Chmod(u.diskMode(e.Mode, false)); err != nil {
		return err
	}
	return os.Chtimes(host, e.ModTime, e.ModTime)
}

// finishSpecial sets the owner, mode and mtime of a FIFO or device.
func (u *Unpacker) finishSpecial(host string, e *layer.Entry) error {
	if u.opts.ApplyOwners {
		if err := os.Lchown(host, e.UID, e.GID); err != nil {
			return err
		}
	}
	if err := os.Chmod(host, u.diskMode(e.Mode, false)); err != nil {
		return err
	}
	return os.Chtimes(host, e.ModTime, e.ModTime)
}

// link makes rel a hard link to the entry's target, which must already be
// in the tree (resolved inside the root, not followed if it is a symlink)
// and must not be a directory.
func (u *Unpacker) link(e *layer.Entry, rel string) error {
	target, err := reproducible.CleanMemberPath(e.Linkname)
	if err != nil {
		return fmt.Errorf("%w: hard link target: %v", layer.ErrUnsafePath, err)
	}
	tdir, tbase := splitRel(target)
	rt, err := u.r.resolveDir(tdir, false, nil)
	if errors.Is(err, errNotExist) || errors.Is(err, errNotDir) {
		return fmt.Errorf("%w: hard link to %s, which is not in the tree (%v)", layer.ErrConflict, target, err)
	}
	if err != nil {
		return fmt.Errorf("hard link to %s: %w", target, err)
	}
	trel := joinRel(rt, tbase)
	if trel == rel {
		return nil // a link to itself: the file is already there
	}
	if s, ok := u.skipped[trel]; ok {
		if err := u.removeIfExists(rel); err != nil {
			return err
		}
		u.skipped[rel] = Skipped{Path: rel, Kind: s.Kind, Reason: s.Reason + " (hard link to " + trel + ")"}
		u.recordLink(rel, trel, e)
		return nil
	}
	tfi, err := os.Lstat(u.r.host(trel))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: hard link to %s, which is not in the tree", layer.ErrConflict, target)
	}
	if err != nil {
		return err
	}
	if tfi.IsDir() {
		return fmt.Errorf("%w: hard link to directory %s", layer.ErrConflict, target)
	}
	if err := u.removeIfExists(rel); err != nil {
		return err
	}
	if err := os.Link(u.r.host(trel), u.r.host(rel)); err != nil {
		return err
	}
	u.recordLink(rel, trel, e)
	return nil
}

func (u *Unpacker) removeIfExists(rel string) error {
	if _, err := os.Lstat(u.r.host(rel)); errors.Is(err, fs.ErrNotExist) {
		u.forgetSkipped(rel)
		return nil
	}
	return u.remove(rel)
}

// forgetSkipped drops the records of skipped entries (not on disk) at or
// below rel.
func (u *Unpacker) forgetSkipped(rel string) {
	for k := range u.skipped {
		if within(k, rel) {
			delete(u.skipped, k)
			delete(u.entries, k)
		}
	}
}

// whiteout removes p from the lower layers.
func (u *Unpacker) whiteout(p string) error {
	dir, base := splitRel(p)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("%w: whiteout of %q", layer.ErrUnsafePath, p)
	}
	rdir, err := u.r.resolveDir(dir, false, nil)
	if errors.Is(err, errNotExist) || errors.Is(err, errNotDir) {
		return nil // nothing there to remove
	}
	if err != nil {
		return err
	}
	rel := joinRel(rdir, base)
	switch {
	case u.cur[rel]:
		return nil // an entry of this layer: not hidden by its own whiteouts
	case u.curAnc[rel]:
		return u.clearLower(rel) // keep what this layer put below it
	}
	return u.removeIfExists(rel)
}

// opaque hides every lower-layer entry below the directory p.
func (u *Unpacker) opaque(p string) error {
	rel, err := u.r.resolveDir(p, true, u.madeParent)
	if err != nil {
		return err
	}
	return u.clearLower(rel)
}

// clearLower removes everything below rel that the current layer did not
// write.
func (u *Unpacker) clearLower(rel string) error {
	names, err := reproducible.ReadDirNames(u.r.host(rel))
	if err != nil {
		return err
	}
	for _, name := range names {
		c := joinRel(rel, name)
		if u.cur[c] || u.curAnc[c] {
			if fi, err := os.Lstat(u.r.host(c)); err == nil && fi.IsDir() {
				if err := u.clearLower(c); err != nil {
					return err
				}
			}
			continue
		}
		if err := u.remove(c); err != nil {
			return err
		}
	}
	// Skipped devices are not on disk: forget those below rel too.
	for k := range u.skipped {
		if within(k, rel) && k != rel && !u.cur[k] {
			delete(u.skipped, k)
			delete(u.entries, k)
		}
	}
	return nil
}

// remove deletes rel and everything below it, on disk and in the record.
// rel itself is not followed if it is a symlink.
func (u *Unpacker) remove(rel string) error {
	host := u.r.host(rel)
	_ = filepath.WalkDir(host, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if r, err := filepath.Rel(u.r.dir, p); err == nil {
			delete(u.entries, filepath.ToSlash(r))
		}
		return nil
	})
	u.forgetSkipped(rel)
	return os.RemoveAll(host)
}

// madeParent records a directory made because an entry needed it.
func (u *Unpacker) madeParent(rel string) error {
	u.record(rel, &layer.Entry{Kind: layer.Dir, Mode: 0o755, ModTime: reproducible.Epoch})
	return nil
}

func (u *Unpacker) record(rel string, e *layer.Entry) {
	c := *e
	c.Path, c.Source, c.Origin = rel, nil, ""
	c.Xattrs = maps.Clone(e.Xattrs)
	u.entries[rel] = &c
	u.mark(rel)
}

// recordLink records rel as sharing trel's inode, so trel's metadata.
func (u *Unpacker) recordLink(rel, trel string, e *layer.Entry) {
	t, ok := u.entries[trel]
	if !ok {
		// A target that was there before the first layer: what the
		// header says is all that is known.
		t = &layer.Entry{Kind: layer.File, Mode: e.Mode, UID: e.UID, GID: e.GID, Uname: e.Uname, Gname: e.Gname, ModTime: e.ModTime}
	}
	u.record(rel, t)
}

func (u *Unpacker) mark(rel string) {
	if u.cur == nil {
		return
	}
	u.cur[rel] = true
	for p := parentOf(rel); p != ""; p = parentOf(p) {
		if u.curAnc[p] {
			break
		}
		u.curAnc[p] = true
	}
}

// Finish sets the modes, owners and mtimes of directories (last, so that
// writing their children does not move their mtimes, and deepest first, so
// that a read-only directory is locked only after its children are done)
// and returns the Result.
func (u *Unpacker) Finish() (Result, error) {
	if u.err != nil {
		return Result{}, u.err
	}
	if u.done {
		return Result{}, errors.New("unpack: Finish called twice")
	}
	u.done = true
	paths := slices.Sorted(maps.Keys(u.entries))
	for i := len(paths) - 1; i >= 0; i-- {
		e := u.entries[paths[i]]
		if e.Kind != layer.Dir {
			continue
		}
		host := u.r.host(paths[i])
		if u.opts.ApplyOwners {
			if err := os.Lchown(host, e.UID, e.GID); err != nil {
				return Result{}, fmt.Errorf("%s: %w", paths[i], err)
			}
		}
		if err := os.Chmod(host, u.diskMode(e.Mode, true)); err != nil {
			return Result{}, fmt.Errorf("%s: %w", paths[i], err)
		}
		if err := os.Chtimes(host, e.ModTime, e.ModTime); err != nil {
			return Result{}, fmt.Errorf("%s: %w", paths[i], err)
		}
	}
	res := Result{Entries: make([]layer.Entry, 0, len(paths))}
	for _, p := range paths {
		res.Entries = append(res.Entries, *u.entries[p])
	}
	for _, p := range slices.Sorted(maps.Keys(u.skipped)) {
		res.Skipped = append(res.Skipped, u.skipped[p])
	}
	return res, nil
}

// diskMode converts a tar mode to the mode written on disk.
func (u *Unpacker) diskMode(mode int64, dir bool) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	if u.opts.OwnerAccess {
		m |= 0o600
		if dir {
			m |= 0o100
		}
	}
	return m
}
