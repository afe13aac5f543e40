package unpack

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// mknod makes a character or block device node with mode 0600; the caller
// sets the real mode.
func mknod(path string, block bool, major, minor int64) error {
	mode := uint32(syscall.S_IFCHR | 0o600)
	if block {
		mode = syscall.S_IFBLK | 0o600
	}
	return syscall.Mknod(path, mode, int(mkdev(uint64(major), uint64(minor))))
}

// mkdev encodes a device number as glibc's makedev does.
func mkdev(major, minor uint64) uint64 {
	return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor &^ 0xff) << 12) | ((major &^ 0xfff) << 32)
}

const (
	atFDCWD           = -0x64
	atSymlinkNofollow = 0x100
)

// lutimes sets a symlink's own access and modification times.
func lutimes(path string, t time.Time) error {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(t.UnixNano()), syscall.NsecToTimespec(t.UnixNano())}
	fd := atFDCWD
	_, _, errno := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(fd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&ts)), atSymlinkNofollow, 0, 0)
	if errno != 0 {
		return &os.PathError{Op: "lutimes", Path: path, Err: errno}
	}
	return nil
}
