package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// oDirect opens a file for direct I/O: writes go from the process's
// buffer to the disk without a copy into the page cache.
const oDirect = syscall.O_DIRECT

// directFS reports whether the file system holding dir is a local disk
// file system where direct writes pay (ext4, XFS, Btrfs, F2FS). Network
// and FUSE file systems (each direct write a round trip of its own),
// tmpfs (memory anyway) and the unknown keep ordinary writes.
func directFS(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC:
		return true
	}
	return false
}
