package reproducible

import (
	"errors"
	"os"
	"path/filepath"
)

// PendingFile is an output being written under a temporary name in its
// destination directory. Commit gives it its real name; Abort, or a failed
// Commit, removes it. A crash leaves only a ".tmp-*" file, never a partial
// output under the real name.
type PendingFile struct {
	*os.File
	path string
	done bool
}

// CreatePending starts writing path.
func CreatePending(path string) (*PendingFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &PendingFile{File: f, path: path}, nil
}

// Commit closes the file, sets its mode to 0644 (whatever the umask) and
// renames it to its real name.
func (p *PendingFile) Commit() error {
	if p.done {
		return errors.New(p.path + ": already committed or aborted")
	}
	p.done = true
	err := p.File.Close()
	if err == nil {
		err = os.Chmod(p.File.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(p.File.Name(), p.path)
	}
	if err != nil {
		os.Remove(p.File.Name())
	}
	return err
}

// Abort discards the file. It is safe to call after Commit (then it does
// nothing), so `defer p.Abort()` is the usual pattern.
func (p *PendingFile) Abort() {
	if p.done {
		return
	}
	p.done = true
	p.File.Close()
	os.Remove(p.File.Name())
}

// WriteFileAtomic writes data to path through a PendingFile.
func WriteFileAtomic(path string, data []byte) error {
	p, err := CreatePending(path)
	if err != nil {
		return err
	}
	defer p.Abort()
	if _, err := p.Write(data); err != nil {
		return err
	}
	return p.Commit()
}

// ReplaceDir renames the complete directory src to dst. An existing dst (the
// empty directory Bazel makes for a tree artifact, or a previous output) is
// moved aside first and removed after, so dst is always whole.
func ReplaceDir(src, dst string) error {
	err := os.Rename(src, dst)
	if err == nil {
		return nil
	}
	if _, statErr := os.Lstat(dst); statErr != nil {
		return err
	}
	old := src + ".old"
	if err := os.Rename(dst, old); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		os.Rename(old, dst)
		return err
	}
	return os.RemoveAll(old)
}
