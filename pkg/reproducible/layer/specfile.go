package layer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// SpecFile is the JSON form of a layer spec, the input of
// `imagewriter layer --spec`. docs/layer-spec.md documents every field.
type SpecFile struct {
	// Compression, optional; command-line flags override it.
	Compression *reproducible.Compression `json:"compression,omitempty"`
	// Defaults apply to every entry that does not set a field itself.
	Defaults Defaults `json:"defaults,omitempty"`
	// CreateParentDirectories: see SpecOptions.
	CreateParentDirectories bool `json:"createParentDirectories,omitempty"`
	// HardlinkDuplicates: see SpecOptions.
	HardlinkDuplicates bool        `json:"hardlinkDuplicates,omitempty"`
	Entries            []EntrySpec `json:"entries"`
	// Attributes override the metadata of single paths after trees and
	// tars are expanded; naming a path the layer does not hold is an error.
	Attributes map[string]Attributes `json:"attributes,omitempty"`
}

// Attributes are the metadata fields an entry may set.
type Attributes struct {
	Mode   *Mode             `json:"mode,omitempty"`
	UID    *int              `json:"uid,omitempty"`
	GID    *int              `json:"gid,omitempty"`
	Uname  *string           `json:"uname,omitempty"`
	Gname  *string           `json:"gname,omitempty"`
	Mtime  *string           `json:"mtime,omitempty"`
	Xattrs map[string]string `json:"xattrs,omitempty"`
}

// Defaults are the layer-wide defaults.
type Defaults struct {
	// FileMode replaces the 0644/0755 choice for regular files.
	FileMode *Mode `json:"fileMode,omitempty"`
	// DirMode replaces 0755 for directories.
	DirMode *Mode   `json:"dirMode,omitempty"`
	UID     *int    `json:"uid,omitempty"`
	GID     *int    `json:"gid,omitempty"`
	Uname   *string `json:"uname,omitempty"`
	Gname   *string `json:"gname,omitempty"`
	// Mtime is RFC 3339 or "@SECONDS"; the default is the Unix epoch.
	Mtime *string `json:"mtime,omitempty"`
}

// EntrySpec is one entry of a spec file. Type says which fields apply.
type EntrySpec struct {
	// Type is file, dir, tree, symlink, hardlink, tar, whiteout or opaque.
	Type string `json:"type"`
	// Path is the destination in the image ("/usr/bin/app" or
	// "usr/bin/app"); for tar, an optional prefix.
	Path string `json:"path,omitempty"`
	// Source is a host path (file, tree, tar); relative paths resolve
	// against the spec file's directory.
	Source string `json:"source,omitempty"`
	// Sources gives a source per platform ("linux/amd64"), for specs that
	// build several platforms; Source, if set too, is the fallback.
	Sources map[string]string `json:"sources,omitempty"`
	// Content is a file's bytes given inline, as UTF-8 text, or
	// ContentBase64 as base64.
	Content       *string `json:"content,omitempty"`
	ContentBase64 *string `json:"contentBase64,omitempty"`
	// Target is a symlink's target (kept verbatim) or a hard link's target
	// path in this layer.
	Target string `json:"target,omitempty"`
	Attributes
	// PreserveMode and PreserveMtime take a tree's modes and mtimes from
	// disk, and a tar's mtimes from the tar; otherwise the defaults apply.
	PreserveMode  bool `json:"preserveMode,omitempty"`
	PreserveMtime bool `json:"preserveMtime,omitempty"`
	// PreserveNames keeps a tar's uname/gname; otherwise they are emptied.
	PreserveNames bool `json:"preserveNames,omitempty"`
	// FollowSymlinks makes a tree store the files symlinks point to instead
	// of the symlinks (what a Bazel sandbox of symlinked inputs needs).
	FollowSymlinks bool `json:"followSymlinks,omitempty"`
}

// Mode is a permission mode written in JSON as an octal string ("0755").
type Mode int64

// UnmarshalJSON accepts "0755", "755" and "0o755"; JSON numbers are refused
// because 755 and 0755 would silently differ.
func (m *Mode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mode must be an octal string such as \"0755\", not %s", b)
	}
	v, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 64)
	if err != nil || v < 0 || v > reproducible.MaxMode {
		return fmt.Errorf("mode %q: want an octal number within 0..07777", s)
	}
	*m = Mode(v)
	return nil
}

// MarshalJSON writes the octal string form.
func (m Mode) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprintf("%04o", int64(m))) }

// ParseSpecFile decodes a spec file strictly: unknown fields are errors, so
// that a misspelt field is never silently ignored. name is used in errors.
//
// The file must be valid UTF-8: encoding/json would silently turn invalid
// bytes in a path into U+FFFD, a different path than the one written.
func ParseSpecFile(name string, b []byte) (*SpecFile, error) {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return nil, fmt.Errorf("%s: not valid UTF-8 at byte offset %d", name, i)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sf SpecFile
	if err := dec.Decode(&sf); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the JSON object", name)
	}
	return &sf, nil
}

// ResolveOptions say how a spec file's entries become a Spec.
type ResolveOptions struct {
	// BaseDir is where relative sources are looked up: the spec file's
	// directory.
	BaseDir string
	// Platform selects from EntrySpec.Sources, e.g. "linux/arm64".
	Platform string
	// DefaultModTime is the mtime used when the spec sets none; zero means
	// reproducible.Epoch. Callers pass SOURCE_DATE_EPOCH here when asked to.
	DefaultModTime time.Time
	// TempDir holds decompressed input tars while the layer is built.
	TempDir string
}

// Spec expands the spec file (walks trees, indexes tars, reads inline
// content) and returns the validated Spec. Errors name the entry as
// entries[N] and the file or path involved. The caller closes the Spec.
func (sf *SpecFile) Spec(opts ResolveOptions) (_ *Spec, err error) {
	d, err := sf.resolveDefaults(opts.DefaultModTime)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	var closers []io.Closer
	defer func() {
		if err != nil {
			for _, c := range closers {
				c.Close()
			}
		}
	}()
	for i, es := range sf.Entries {
		origin := fmt.Sprintf("entries[%d]", i)
		got, c, err := es.expand(origin, d, opts)
		if c != nil {
			closers = append(closers, c)
		}
		if err != nil {
			var pe *PathError
			if errors.As(err, &pe) {
				return nil, err
			}
			return nil, fmt.Errorf("%s (%s %q): %w", origin, es.Type, es.Path, err)
		}
		entries = append(entries, got...)
	}
	if err := applyAttributes(entries, sf.Attributes); err != nil {
		return nil, err
	}
	s, err := NewSpec(entries, SpecOptions{
		DefaultModTime:          d.mtime,
		CreateParentDirectories: sf.CreateParentDirectories,
		ParentDirectory:         Entry{Mode: d.dirMode, UID: d.uid, GID: d.gid, Uname: d.uname, Gname: d.gname, ModTime: d.mtime},
		HardlinkDuplicates:      sf.HardlinkDuplicates,
	})
	if err != nil {
		return nil, err
	}
	for _, c := range closers {
		s.AddCloser(c)
	}
	return s, nil
}

type defaults struct {
	fileMode     int64 // 0: choose 0644/0755
	dirMode      int64
	uid, gid     int
	uname, gname string
	mtime        time.Time
}

func (sf *SpecFile) resolveDefaults(mtime time.Time) (defaults, error) {
	d := defaults{dirMode: 0o755, mtime: mtime}
	if d.mtime.IsZero() {
		d.mtime = reproducible.Epoch
	}
	df := sf.Defaults
	if df.FileMode != nil {
		d.fileMode = int64(*df.FileMode)
	}
	if df.DirMode != nil {
		d.dirMode = int64(*df.DirMode)
	}
	if df.UID != nil {
		d.uid = *df.UID
	}
	if df.GID != nil {
		d.gid = *df.GID
	}
	if df.Uname != nil {
		d.uname = *df.Uname
	}
	if df.Gname != nil {
		d.gname = *df.Gname
	}
	if df.Mtime != nil {
		t, err := reproducible.ParseTime(*df.Mtime)
		if err != nil {
			return d, fmt.Errorf("defaults.mtime: %w", err)
		}
		d.mtime = t
	}
	if d.uid < 0 || d.gid < 0 {
		return d, fmt.Errorf("defaults: negative uid or gid")
	}
	return d, nil
}

// base returns an entry carrying the defaults and the entry's own attributes.
func (es *EntrySpec) base(path string, kind Kind, d defaults, origin string) (Entry, error) {
	e := Entry{Path: path, Kind: kind, UID: d.uid, GID: d.gid, Uname: d.uname, Gname: d.gname, ModTime: d.mtime, Origin: origin}
	switch kind {
	case Dir:
		e.Mode = d.dirMode
	case Symlink:
		e.Mode = 0o777
	case File:
		e.Mode = d.fileMode
	}
	if err := es.Attributes.apply(&e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func (a *Attributes) apply(e *Entry) error {
	if a.Mode != nil {
		e.Mode = int64(*a.Mode)
	}
	if a.UID != nil {
		e.UID = *a.UID
	}
	if a.GID != nil {
		e.GID = *a.GID
	}
	if a.Uname != nil {
		e.Uname = *a.Uname
	}
	if a.Gname != nil {
		e.Gname = *a.Gname
	}
	if a.Mtime != nil {
		t, err := reproducible.ParseTime(*a.Mtime)
		if err != nil {
			return fmt.Errorf("mtime: %w", err)
		}
		e.ModTime = t
	}
	if a.Xattrs != nil {
		e.Xattrs = maps.Clone(a.Xattrs)
	}
	return nil
}

func (es *EntrySpec) source(opts ResolveOptions) (string, error) {
	src := es.Source
	if s, ok := es.Sources[opts.Platform]; ok && opts.Platform != "" {
		src = s
	}
	if src == "" {
		if len(es.Sources) > 0 {
			return "", fmt.Errorf("sources: no source for platform %q (have %s)", opts.Platform, strings.Join(slices.Sorted(maps.Keys(es.Sources)), ", "))
		}
		return "", fmt.Errorf("source: missing")
	}
	if !filepath.IsAbs(src) {
		src = filepath.Join(opts.BaseDir, src)
	}
	return src, nil
}

// fieldsOf lists, per entry type, the fields besides type, path and the
// attributes that the type uses.
var fieldsOf = map[string][]string{
	"file":     {"source", "sources", "content", "contentBase64"},
	"dir":      nil,
	"symlink":  {"target"},
	"hardlink": {"target"},
	"whiteout": nil,
	"opaque":   nil,
	"tree":     {"source", "sources", "preserveMode", "preserveMtime", "followSymlinks"},
	"tar":      {"source", "sources", "preserveMtime", "preserveNames"},
}

// checkFields rejects a field the entry's type does not use, and a file
// given both inline content and a source, so that a spec that says two
// things is an error instead of one of them being silently ignored.
func (es *EntrySpec) checkFields() error {
	allowed, ok := fieldsOf[es.Type]
	if !ok {
		return nil // expand reports the type
	}
	set := []struct {
		name string
		is   bool
	}{
		{"source", es.Source != ""}, {"sources", len(es.Sources) > 0},
		{"content", es.Content != nil}, {"contentBase64", es.ContentBase64 != nil},
		{"target", es.Target != ""}, {"preserveMode", es.PreserveMode}, {"preserveMtime", es.PreserveMtime},
		{"preserveNames", es.PreserveNames}, {"followSymlinks", es.FollowSymlinks},
	}
	for _, f := range set {
		if f.is && !slices.Contains(allowed, f.name) {
			return fmt.Errorf("%s: not used by a %s entry", f.name, es.Type)
		}
	}
	if (es.Content != nil || es.ContentBase64 != nil) && (es.Source != "" || len(es.Sources) > 0) {
		return fmt.Errorf("inline content and source(s): give one")
	}
	return nil
}

func (es *EntrySpec) expand(origin string, d defaults, opts ResolveOptions) ([]Entry, io.Closer, error) {
	if err := es.checkFields(); err != nil {
		return nil, nil, err
	}
	one := func(e Entry, err error) ([]Entry, io.Closer, error) {
		if err != nil {
			return nil, nil, err
		}
		return []Entry{e}, nil, nil
	}
	switch es.Type {
	case "file":
		if es.Content != nil || es.ContentBase64 != nil {
			if es.Content != nil && es.ContentBase64 != nil {
				return nil, nil, fmt.Errorf("content and contentBase64: give one")
			}
			data := []byte(nil)
			if es.Content != nil {
				data = []byte(*es.Content)
			} else {
				b, err := base64.StdEncoding.DecodeString(*es.ContentBase64)
				if err != nil {
					return nil, nil, fmt.Errorf("contentBase64: %v", err)
				}
				data = b
			}
			e, err := es.base(es.Path, File, d, origin+" (inline content)")
			if e.Mode == 0 && es.Mode == nil {
				e.Mode = 0o644
			}
			e.Source = Inline(data)
			return one(e, err)
		}
		src, err := es.source(opts)
		if err != nil {
			return nil, nil, err
		}
		df, fi, err := NewDiskFile(src)
		if err != nil {
			return nil, nil, err
		}
		e, err := es.base(es.Path, File, d, fmt.Sprintf("%s (source %q)", origin, src))
		if es.Mode == nil && d.fileMode == 0 {
			e.Mode = execMode(fi.Mode())
		}
		e.Source = df
		return one(e, err)
	case "dir":
		return one(es.base(es.Path, Dir, d, origin))
	case "symlink":
		e, err := es.base(es.Path, Symlink, d, origin)
		e.Linkname = es.Target
		return one(e, err)
	case "hardlink":
		e, err := es.base(es.Path, Hardlink, d, origin)
		e.Linkname = es.Target
		return one(e, err)
	case "whiteout":
		return one(es.base(es.Path, Whiteout, d, origin))
	case "opaque":
		return one(es.base(es.Path, Opaque, d, origin))
	case "tree":
		if es.Mode != nil {
			return nil, nil, fmt.Errorf("mode: not allowed on a tree; use defaults.fileMode/dirMode or attributes")
		}
		src, err := es.source(opts)
		if err != nil {
			return nil, nil, err
		}
		entries, err := es.walkTree(src, origin, d)
		return entries, nil, err
	case "tar":
		if es.Mode != nil {
			return nil, nil, fmt.Errorf("mode: not allowed on a tar; use attributes")
		}
		src, err := es.source(opts)
		if err != nil {
			return nil, nil, err
		}
		entries, c, err := ReadTarFile(src, es.Path, opts.TempDir)
		if err != nil {
			return nil, nil, err
		}
		for i := range entries {
			e := &entries[i]
			if !es.PreserveMtime {
				e.ModTime = d.mtime
			}
			if !es.PreserveNames {
				e.Uname, e.Gname = "", ""
			}
			if err := es.Attributes.apply(e); err != nil {
				return nil, c, err
			}
		}
		return entries, c, nil
	case "":
		return nil, nil, fmt.Errorf("type: missing (file, dir, tree, symlink, hardlink, tar, whiteout or opaque)")
	}
	return nil, nil, fmt.Errorf("type %q: want file, dir, tree, symlink, hardlink, tar, whiteout or opaque", es.Type)
}

func execMode(m fs.FileMode) int64 {
	if m.Perm()&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// walkTree lists a host directory in sorted order. Its root becomes a
// directory entry at es.Path, unless es.Path is the image root ("/").
func (es *EntrySpec) walkTree(root, origin string, d defaults) ([]Entry, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrBadSource, root)
	}
	dest := strings.Trim(es.Path, "/")
	var out []Entry
	add := func(rel string, fi fs.FileInfo, hostPath string) error {
		p := joinPath(dest, filepath.ToSlash(rel))
		o := fmt.Sprintf("%s (source %q)", origin, hostPath)
		mode := fi.Mode()
		var e Entry
		var err error
		switch {
		case mode.IsDir():
			e, err = es.base(p, Dir, d, o)
		case mode.IsRegular():
			e, err = es.base(p, File, d, o)
			if d.fileMode == 0 {
				e.Mode = execMode(mode)
			}
			e.Source = &DiskFile{Path: hostPath, size: fi.Size()}
		case mode&fs.ModeSymlink != 0:
			e, err = es.base(p, Symlink, d, o)
			if err == nil {
				e.Linkname, err = os.Readlink(hostPath)
			}
		default:
			return &PathError{Op: "tree", Path: p, Source: hostPath, Err: fmt.Errorf("%w: a %s cannot be stored from a tree", ErrBadSource, fileType(mode))}
		}
		if err != nil {
			return err
		}
		if es.PreserveMode {
			e.Mode = int64(mode.Perm())
			if mode&fs.ModeSetuid != 0 {
				e.Mode |= 0o4000
			}
			if mode&fs.ModeSetgid != 0 {
				e.Mode |= 0o2000
			}
			if mode&fs.ModeSticky != 0 {
				e.Mode |= 0o1000
			}
		}
		if es.PreserveMtime {
			e.ModTime = fi.ModTime().UTC().Truncate(time.Second)
		}
		out = append(out, e)
		return nil
	}
	if dest != "" {
		if err := add(".", fi, root); err != nil {
			return nil, err
		}
		out[0].Path = dest
	}
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		names, err := reproducible.ReadDirNames(dir)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadSource, err)
		}
		for _, name := range names {
			hostPath := filepath.Join(dir, name)
			r := filepath.Join(rel, name)
			fi, err := os.Lstat(hostPath)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBadSource, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 && es.FollowSymlinks {
				if fi, err = os.Stat(hostPath); err != nil {
					return &PathError{Op: "tree", Path: joinPath(dest, filepath.ToSlash(r)), Source: hostPath, Err: fmt.Errorf("%w: %v", ErrBadSource, err)}
				}
			}
			if err := add(r, fi, hostPath); err != nil {
				return err
			}
			if fi.IsDir() {
				if err := walk(hostPath, r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(root, "")
}

func applyAttributes(entries []Entry, attrs map[string]Attributes) error {
	if len(attrs) == 0 {
		return nil
	}
	index := make(map[string][]int, len(entries))
	for i, e := range entries {
		if p, err := reproducible.CleanPath(e.Path); err == nil && e.Kind != Whiteout && e.Kind != Opaque {
			index[p] = append(index[p], i)
		}
	}
	for _, raw := range slices.Sorted(maps.Keys(attrs)) {
		p, err := reproducible.CleanPath(raw)
		if err != nil {
			return fmt.Errorf("attributes[%q]: %w", raw, err)
		}
		idx, ok := index[p]
		if !ok {
			return fmt.Errorf("attributes[%q]: no entry of this layer has that path", raw)
		}
		a := attrs[raw]
		for _, i := range idx {
			if err := a.apply(&entries[i]); err != nil {
				return fmt.Errorf("attributes[%q]: %w", raw, err)
			}
		}
	}
	return nil
}
