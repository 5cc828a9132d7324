//go:build !linux

package fs

// threadGroup: macFUSE names the calling process itself.
func threadGroup(pid int) int { return pid }
