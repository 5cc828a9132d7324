package fs

import (
	"slices"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"

	"github.com/sealfs/sealfs/remote"
)

// posixExcluded lists the go-fuse posixtest checks that do not apply, with
// the reason.
var posixExcluded = map[string]string{
	// Byte-range locks are not forwarded to sealfs (MountOptions.EnableLocks
	// is off): one writer per vault, and the check expects OFD locks to be
	// enforced by the file system.
	"FcntlFlockLocksFile": "byte-range locks are not implemented by the file system",
	// O_TMPFILE needs NodeTmpfiler; the backup writers sealfs serves use a
	// named temporary file and rename(2).
	"Tmpfile": "O_TMPFILE is not supported",
}

// TestPosix runs go-fuse's POSIX checks, each on a fresh mount.
func TestPosix(t *testing.T) {
	var names []string
	for name := range posixtest.All {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if why, ok := posixExcluded[name]; ok {
				t.Skip(why)
			}
			v := newVault(t, remote.NewMemory(), testChunk)
			mt := v.mount(t)
			posixtest.All[name](t, mt.dir)
		})
	}
}
