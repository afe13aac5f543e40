//go:build !unix

package unpack

import (
	"errors"
	"io/fs"
)

const oNoFollow = 0

func mkfifo(path string) error { return errors.New("FIFOs are not supported on this system") }

func inode(fs.FileInfo) (dev, ino uint64, nlink uint64, ok bool) { return 0, 0, 0, false }
