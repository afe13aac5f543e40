//go:build unix

package unpack

import (
	"io/fs"
	"syscall"
)

const oNoFollow = syscall.O_NOFOLLOW

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

// inode returns the device and inode numbers of fi, for finding hard links.
func inode(fi fs.FileInfo) (dev, ino uint64, nlink uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), uint64(st.Nlink), true
}
