//go:build !linux

package unpack

import (
	"errors"
	"time"
)

// Device nodes are made only on Linux (canMknod is false elsewhere).
func mknod(path string, block bool, major, minor int64) error {
	return errors.New("device nodes are only made on Linux")
}

// lutimes leaves a symlink's times alone off Linux; the Result keeps the
// header's mtime.
func lutimes(path string, t time.Time) error { return nil }
