//go:build !linux

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// mknodIn makes the special file path (by path: there is no mknodat
// here); dir is the open folder it is in.
func mknodIn(dir *os.File, path string, mode, rdev uint32) error {
	return unix.Mknod(path, mode, int(rdev))
}
