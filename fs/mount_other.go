//go:build !linux

package fs

import "github.com/hanwen/go-fuse/v2/fuse"

// mountFlags makes the mount nodev and nosuid, and read-only with ro
// (macFUSE's mount options).
func mountFlags(o *fuse.MountOptions, ro bool) {
	o.Options = append(o.Options, "nodev", "nosuid")
	if ro {
		o.Options = append(o.Options, "ro")
	}
}

// raiseReadAhead does nothing: the kernel read-ahead window of a FUSE mount
// is a Linux sysfs setting (mount_linux.go).
func raiseReadAhead(string) {}
