//go:build !linux

package fs

import "github.com/hanwen/go-fuse/v2/fuse"

// mountReadOnly makes the mount read-only: macFUSE's mount helper takes
// "ro" (there is no direct mount outside Linux).
func mountReadOnly(o *fuse.MountOptions) { o.Options = append(o.Options, "ro") }
