package fs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// mountReadOnly makes the kernel mount read-only (mount(2) flag).
func mountReadOnly(o *fuse.MountOptions) { o.DirectMountFlags = syscall.MS_RDONLY }
