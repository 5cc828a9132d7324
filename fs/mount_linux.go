package fs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// mountFlags makes the mount nodev and nosuid, and read-only with ro.
func mountFlags(o *fuse.MountOptions, ro bool) {
	o.DirectMountFlags = syscall.MS_NODEV | syscall.MS_NOSUID
	if ro {
		o.DirectMountFlags |= syscall.MS_RDONLY
	}
}

// raiseReadAhead sets the read-ahead window of the mount's backing device
// (/sys/class/bdi/MAJOR:MINOR/read_ahead_kb) to kernelReadAheadKiB unless
// it is larger already. Only root may write it: without it, reads are
// served the same, in smaller requests, so a failure is not an error.
func raiseReadAhead(mountpoint string) {
	var st syscall.Stat_t
	if err := syscall.Stat(mountpoint, &st); err != nil {
		return
	}
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if cur, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && cur >= kernelReadAheadKiB {
		return
	}
	_ = os.WriteFile(path, []byte(strconv.Itoa(kernelReadAheadKiB)), 0)
}
