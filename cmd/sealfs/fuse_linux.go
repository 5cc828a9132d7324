package main

import (
	"errors"
	"fmt"
	"os"
)

// fuseDevice is the FUSE device (a variable so tests can point it elsewhere).
var fuseDevice = "/dev/fuse"

// checkFUSE says how to fix a missing or forbidden /dev/fuse.
func checkFUSE() error {
	f, err := os.OpenFile(fuseDevice, os.O_RDWR, 0)
	switch {
	case err == nil:
		f.Close()
		return nil
	case errors.Is(err, os.ErrNotExist):
		return errors.New("/dev/fuse is missing: load the fuse kernel module ('modprobe fuse'), or in a container pass the device (docker run --device /dev/fuse --cap-add SYS_ADMIN)")
	case errors.Is(err, os.ErrPermission):
		return errors.New("no permission to open /dev/fuse: run as root, or install fuse3 (for fusermount3) and make /dev/fuse accessible to your user")
	default:
		return fmt.Errorf("cannot open /dev/fuse: %w", err)
	}
}

// mountedFSType reports the file system type mounted exactly at dir.
func mountedFSType(dir string) (string, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	return findMount(f, dir)
}
