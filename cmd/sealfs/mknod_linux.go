package main

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mknodIn makes the special file path in dir, the open folder it is in
// (relative to it, so a symbolic link swapped in above cannot redirect it).
func mknodIn(dir *os.File, path string, mode, rdev uint32) error {
	return unix.Mknodat(int(dir.Fd()), filepath.Base(path), mode, int(rdev))
}
