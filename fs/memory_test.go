package fs

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// TestMemoryPerLookedUpEntry checks what the mount process holds for each
// entry the kernel has looked up (ls -l, find, du, rsync look up all they
// list; the kernel keeps them until it is short of memory): nothing per
// entry beyond the bounded names kept for opens (rawfs.go). Measured as
// the live heap after every file was stat'd through the mount, minus the
// same before, per file. Seen failing on go-fuse's node API (about 500
// bytes per entry, docs/PERFORMANCE.md, "The tree's memory per entry").
func TestMemoryPerLookedUpEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("stats 100,000 files through the mount")
	}
	const dirs, files = 100, 1000
	v := newVault(t, remote.NewMemory(), testChunk)
	mt := v.mount(t)
	for d := range dirs {
		dir, err := mt.m.Vault().Mkdir(meta.RootIno, fmt.Sprintf("d%03d", d), syscall.S_IFDIR|0o755, 0, 0)
		ok(t, err)
		for i := range files {
			_, err := mt.m.Vault().Create(dir.Ino, fmt.Sprintf("IMG-%05d.jpg", i), syscall.S_IFREG|0o644, 0, 0)
			ok(t, err)
		}
	}
	statDir := func(d int) {
		for i := range files {
			if _, err := os.Lstat(mt.path(fmt.Sprintf("d%03d/IMG-%05d.jpg", d, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Commit: the journal of 100,000 creates is dropped from memory now,
	// not while measuring.
	ok(t, mt.m.Sync(t.Context()))
	statDir(0) // warm-up: the request buffers, the names kept for opens
	before := liveHeap()
	for d := 1; d < dirs; d++ {
		statDir(d)
	}
	after := liveHeap()
	n := (dirs - 1) * files
	per := (float64(after) - float64(before)) / float64(n)
	t.Logf("%d entries looked up: %.0f bytes each (live heap %d -> %d)", n, per, before, after)
	if per > 100 {
		t.Errorf("the mount holds %.0f bytes for each entry the kernel looked up, want at most 100", per)
	}
}

// liveHeap is the heap in use after two collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
