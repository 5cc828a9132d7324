package meta

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// maxBytesPerEntry is issue 15's bound on the tree's memory per entry:
// a mount of 1,000,000 files must fit in 512 MiB beside its buffers.
const maxBytesPerEntry = 250

// TestMemoryPerEntry measures the heap a tree of 1,000 folders of 1,000
// files (one extent each, its own object) holds, after a collection,
// divided by its entries: as built through the Tree API and committed
// (the journal dropped), and as Open loads it for a mount. It runs under
// the race detector too, which CI uses: ~36 s there (6 s without), and
// the same bytes per entry (the detector's shadow memory is not heap).
func TestMemoryPerEntry(t *testing.T) {
	const dirs, files = 1000, 1000
	entries := 1 + dirs + dirs*files
	base := heapInUse()
	start := time.Now()
	tr := NewTree(testChunk, 0, 0, 1)
	for range dirs {
		fill(t, tr, RootIno, files)
	}
	tr.takePending() // what a commit does with the journal
	checkPerEntry(t, "built", heapInUse()-base, entries, time.Since(start))

	s := remote.NewMemory()
	if _, err := Create(context.Background(), s, testKeys(), tr, LogOptions{}); err != nil {
		t.Fatal(err)
	}
	tr = nil
	base = heapInUse() // the store's sealed bytes are not the tree's
	start = time.Now()
	got, _, err := Open(context.Background(), s, testKeys(), LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPerEntry(t, "loaded", heapInUse()-base, entries, time.Since(start))
	runtime.KeepAlive(got)
}

func checkPerEntry(t *testing.T, what string, used int64, entries int, took time.Duration) {
	t.Helper()
	perEntry := float64(used) / float64(entries)
	t.Logf("%s: %d entries in %v, %d bytes in use, %.0f B/entry", what, entries, took, used, perEntry)
	if perEntry > maxBytesPerEntry {
		t.Errorf("%s: %.0f bytes per entry, want at most %d", what, perEntry, maxBytesPerEntry)
	}
}

// heapInUse is the heap in use after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
