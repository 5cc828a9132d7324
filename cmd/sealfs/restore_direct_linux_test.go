package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestDirectFS: restore writes directly only onto local disk file
// systems; memory and pseudo file systems keep ordinary writes.
func TestDirectFS(t *testing.T) {
	for _, dir := range []string{"/proc", "/dev/shm", "/sys"} {
		if directFS(dir) {
			t.Errorf("%s: direct writes chosen for a file system that is not a local disk", dir)
		}
	}
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if want := uint32(st.Type) == unix.EXT4_SUPER_MAGIC; want && !directFS(dir) {
		t.Errorf("%s is on ext4, and direct writes were not chosen", dir)
	}
}
