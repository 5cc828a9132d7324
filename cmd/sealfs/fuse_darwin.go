package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// macFUSEHelpers are the mount helpers go-fuse runs on macOS.
var macFUSEHelpers = []string{
	"/Library/Filesystems/macfuse.fs/Contents/Resources/mount_macfuse",
	"/Library/Filesystems/osxfuse.fs/Contents/Resources/mount_osxfuse",
}

// checkFUSE says how to fix a missing macFUSE.
func checkFUSE() error {
	for _, p := range macFUSEHelpers {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return errors.New("macFUSE is not installed, so sealfs cannot mount: install it from https://macfuse.github.io, or get files back without FUSE with 'sealfs restore' (or 'sealfs ls' and 'sealfs cat')")
}

// mountedFSType reports the file system type mounted exactly at dir: a
// macFUSE mount whose source is "sealfs" counts as ours (fuseFSType).
func mountedFSType(dir string) (string, bool) {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "", false
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // /tmp is /private/tmp
	}
	if unix.ByteSliceToString(st.Mntonname[:]) != dir {
		return "", false
	}
	fstype := unix.ByteSliceToString(st.Fstypename[:])
	if strings.Contains(fstype, "fuse") && unix.ByteSliceToString(st.Mntfromname[:]) == "sealfs" {
		return fuseFSType, true
	}
	return fstype, true
}
