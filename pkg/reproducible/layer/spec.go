package layer

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// SpecOptions change how NewSpec completes the entries. The zero value is the
// default.
type SpecOptions struct {
	// DefaultModTime is the mtime of entries that have none; zero means
	// reproducible.Epoch.
	DefaultModTime time.Time
	// CreateParentDirectories adds a directory entry for every missing
	// parent. It is off by default because an added parent overrides the
	// lower layers' directory when the layer is applied: adding "tmp/x"
	// would reset a base image's 1777 "tmp" to 0755.
	CreateParentDirectories bool
	// ParentDirectory is the template for added parents (mode, owner);
	// a zero Mode means 0755.
	ParentDirectory Entry
	// HardlinkDuplicates stores the bytes of identical regular files once:
	// every later file with the same content and the same metadata becomes
	// a hard link to the first. Only files whose sizes collide are read
	// (once, to hash them) before the build.
	HardlinkDuplicates bool
}

// Spec is a validated layer: entries sorted by their tar names, each path
// once, hard links after their targets. NewSpec is its only constructor.
type Spec struct {
	entries []Entry
	closers []io.Closer
}

// Entries returns the entries in the order they are written.
func (s *Spec) Entries() []Entry { return slices.Clone(s.entries) }

// Close releases the inputs the spec holds open (input tars).
func (s *Spec) Close() error {
	var first error
	for _, c := range s.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}

// AddCloser hands c to the spec, which closes it in Close.
func (s *Spec) AddCloser(c io.Closer) { s.closers = append(s.closers, c) }

// NewSpec checks entries and puts them in canonical order. Errors are
// *PathError values naming the path and the origin of each entry involved:
// unsafe paths, a path given twice (ErrDuplicatePath), a path that is a file
// in one entry and a parent directory in another, a whiteout of a path the
// same layer adds, a hard link to a path not in the layer (ErrConflict), and
// a mode outside 0..07777.
func NewSpec(entries []Entry, opts SpecOptions) (*Spec, error) {
	mtime := opts.DefaultModTime
	if mtime.IsZero() {
		mtime = reproducible.Epoch
	}
	es := make([]Entry, 0, len(entries))
	byName := make(map[string]int, len(entries)) // tar name -> index in es
	for _, e := range entries {
		if err := e.normalize(mtime); err != nil {
			return nil, err
		}
		name := e.tarName()
		if i, ok := byName[name]; ok {
			return nil, &PathError{Op: "spec", Path: e.Path, Source: e.Origin,
				Err: fmt.Errorf("%w: also from %s", ErrDuplicatePath, es[i].Origin)}
		}
		byName[name] = len(es)
		es = append(es, e)
	}
	for _, e := range es {
		if e.Kind == Whiteout {
			if i, ok := byName[e.Path]; ok {
				return nil, &PathError{Op: "spec", Path: e.Path, Source: e.Origin,
					Err: fmt.Errorf("%w: whiteout of a path this layer adds (from %s)", ErrConflict, es[i].Origin)}
			}
		}
	}
	if opts.CreateParentDirectories {
		tmpl := opts.ParentDirectory
		if tmpl.Mode == 0 {
			tmpl.Mode = 0o755
		}
		if tmpl.ModTime.IsZero() {
			tmpl.ModTime = mtime
		}
		for i := range es {
			for _, p := range parents(es[i].tarName()) {
				if _, ok := byName[p]; ok {
					continue
				}
				d := tmpl
				d.Path, d.Kind, d.Source, d.Linkname = p, Dir, nil, ""
				d.Origin = "parent of " + es[i].Path
				byName[p] = len(es)
				es = append(es, d)
			}
		}
	}
	for _, e := range es {
		for _, p := range parents(e.tarName()) {
			if i, ok := byName[p]; ok && es[i].Kind != Dir {
				return nil, &PathError{Op: "spec", Path: p, Source: es[i].Origin,
					Err: fmt.Errorf("%w: is a %s here but a parent directory of %s (from %s)", ErrConflict, es[i].Kind, e.Path, e.Origin)}
			}
		}
	}
	if opts.HardlinkDuplicates {
		if err := linkDuplicates(es); err != nil {
			return nil, err
		}
	}
	if err := regroupHardlinks(es, byName); err != nil {
		return nil, err
	}
	slices.SortStableFunc(es, func(a, b Entry) int {
		return reproducible.ComparePaths(a.tarName(), b.tarName())
	})
	return &Spec{entries: es}, nil
}

func (e *Entry) normalize(mtime time.Time) error {
	fail := func(err error) error { return &PathError{Op: "spec", Path: e.Path, Source: e.Origin, Err: err} }
	p, err := reproducible.CleanPath(e.Path)
	if err != nil {
		return fail(err)
	}
	e.Path = p
	_, base := splitPath(p)
	if strings.HasPrefix(base, WhiteoutPrefix) {
		return fail(fmt.Errorf("%w: names starting with %q are reserved for whiteouts", ErrUnsafePath, WhiteoutPrefix))
	}
	if e.Mode < 0 || e.Mode > reproducible.MaxMode {
		return fail(fmt.Errorf("mode %#o outside 0..07777", e.Mode))
	}
	if e.UID < 0 || e.GID < 0 {
		return fail(fmt.Errorf("negative uid or gid"))
	}
	if e.ModTime.IsZero() {
		e.ModTime = mtime
	}
	if e.ModTime.Before(reproducible.Epoch) {
		return fail(fmt.Errorf("mtime %s is before 1970", e.ModTime.UTC().Format(time.RFC3339)))
	}
	switch e.Kind {
	case Hardlink:
		t, err := reproducible.CleanPath(e.Linkname)
		if err != nil {
			return fail(fmt.Errorf("hard link target: %w", err))
		}
		e.Linkname = t
	case Symlink:
		if e.Linkname == "" {
			return fail(fmt.Errorf("symlink with an empty target"))
		}
	case File, Dir, CharDevice, BlockDevice, Fifo, Whiteout, Opaque:
	default:
		return fail(fmt.Errorf("unknown entry kind %v", e.Kind))
	}
	if e.Kind != File {
		e.Source = nil
	}
	// Refuse now, with the entry's origin, whatever Build would refuse
	// (a symlink target or an owner name that is not UTF-8, an xattr
	// name with '=').
	if _, err := reproducible.NormalizeHeader(e.header()); err != nil {
		return fail(err)
	}
	return nil
}

// regroupHardlinks makes every hard link point at the first path of its
// group in tar order, so that a link never precedes its target, and gives
// the whole group the target's metadata (a hard link shares one inode).
func regroupHardlinks(es []Entry, byName map[string]int) error {
	root := func(i int) (int, error) {
		seen := map[int]bool{}
		for es[i].Kind == Hardlink {
			if seen[i] {
				return 0, &PathError{Op: "spec", Path: es[i].Path, Source: es[i].Origin, Err: fmt.Errorf("%w: hard link cycle", ErrConflict)}
			}
			seen[i] = true
			j, ok := byName[es[i].Linkname]
			if !ok || es[j].Kind == Whiteout || es[j].Kind == Opaque {
				return 0, &PathError{Op: "spec", Path: es[i].Path, Source: es[i].Origin,
					Err: fmt.Errorf("%w: hard link to %s, which is not in this layer", ErrConflict, es[i].Linkname)}
			}
			if es[j].Kind == Dir {
				return 0, &PathError{Op: "spec", Path: es[i].Path, Source: es[i].Origin,
					Err: fmt.Errorf("%w: hard link to directory %s", ErrConflict, es[i].Linkname)}
			}
			i = j
		}
		return i, nil
	}
	groups := map[int][]int{} // root index -> members (root included)
	for i := range es {
		if es[i].Kind != Hardlink {
			continue
		}
		r, err := root(i)
		if err != nil {
			return err
		}
		if len(groups[r]) == 0 {
			groups[r] = []int{r}
		}
		groups[r] = append(groups[r], i)
	}
	for _, r := range slices.Sorted(maps.Keys(groups)) {
		members := groups[r]
		first := slices.MinFunc(members, func(a, b int) int { return strings.Compare(es[a].Path, es[b].Path) })
		tmpl := es[r]
		firstPath := es[first].Path
		for _, m := range members {
			path, origin := es[m].Path, es[m].Origin
			es[m] = tmpl
			es[m].Path, es[m].Origin = path, origin
			if m != first {
				es[m].Kind, es[m].Linkname, es[m].Source, es[m].Xattrs = Hardlink, firstPath, nil, nil
			}
		}
	}
	return nil
}

// linkDuplicates turns regular files with the same bytes and metadata into
// hard links to the first of them. Only files whose sizes collide are hashed.
func linkDuplicates(es []Entry) error {
	bySize := map[int64][]int{}
	for i := range es {
		if es[i].Kind == File && es[i].Source != nil && es[i].Source.Size() > 0 {
			bySize[es[i].Source.Size()] = append(bySize[es[i].Source.Size()], i)
		}
	}
	for _, size := range slices.Sorted(maps.Keys(bySize)) {
		idx := bySize[size]
		if len(idx) < 2 {
			continue
		}
		firstBy := map[string]int{}
		slices.SortFunc(idx, func(a, b int) int { return strings.Compare(es[a].Path, es[b].Path) })
		for _, i := range idx {
			sum, err := hashSource(es[i].Source)
			if err != nil {
				return &PathError{Op: "spec", Path: es[i].Path, Source: es[i].Origin, Err: err}
			}
			key := fmt.Sprintf("%x|%o|%d|%d|%s|%s|%d|%v", sum, es[i].Mode, es[i].UID, es[i].GID, es[i].Uname, es[i].Gname, es[i].ModTime.Unix(), sortedPairs(es[i].Xattrs))
			if j, ok := firstBy[key]; ok {
				es[i].Kind, es[i].Linkname, es[i].Source = Hardlink, es[j].Path, nil
				continue
			}
			firstBy[key] = i
		}
	}
	return nil
}

func hashSource(s Source) ([]byte, error) {
	rc, err := s.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func sortedPairs(m map[string]string) string {
	var b bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%q=%q;", k, m[k])
	}
	return b.String()
}
