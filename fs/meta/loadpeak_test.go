package meta

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// TestOpenPeakLiveHeap checks that loading a tree holds little beside the
// tree it builds: the checkpoint's ops are applied as they are decoded,
// not first collected (three per file: about 500 MB for a million files,
// when the tree is 180 MB; docs/PERFORMANCE.md, "The FUSE side without a
// node per entry"). Measured as the largest live heap any collection
// found during Open, against the live heap once it returned. Seen failing
// with the ops collected first (4.9 times the loaded tree).
func TestOpenPeakLiveHeap(t *testing.T) {
	const dirs, files = 100, 1000
	tr := NewTree(testChunk, 0, 0, 1)
	for range dirs {
		fill(t, tr, RootIno, files)
	}
	tr.takePending()
	s := remote.NewMemory()
	if _, err := Create(context.Background(), s, testKeys(), tr, LogOptions{}); err != nil {
		t.Fatal(err)
	}
	tr = nil
	defer debug.SetGCPercent(debug.SetGCPercent(10)) // many collections during Open
	base := liveHeap()
	stop := watchLiveHeap()
	got, _, err := Open(context.Background(), s, testKeys(), LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peak := stop() - base
	loaded := liveHeap() - base
	runtime.KeepAlive(got)
	ratio := float64(peak) / float64(loaded)
	t.Logf("tree of %d files: %d bytes live once loaded, at most %d while loading (%.1f times)", dirs*files, loaded, peak, ratio)
	if ratio > 2 {
		t.Errorf("loading held %.1f times the loaded tree at its peak, want at most 2", ratio)
	}
}

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchLiveHeap records the largest live heap a collection finds until
// the returned function is called, which returns it. A finalizer notes
// each collection (some may be missed if several run back to back).
func watchLiveHeap() (stop func() uint64) {
	var peak atomic.Uint64
	var stopped atomic.Bool
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	arm = func() {
		runtime.SetFinalizer(new([16]byte), func(*[16]byte) {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			if !stopped.Load() {
				arm()
			}
		})
	}
	arm()
	return func() uint64 {
		runtime.GC() // the last cycle's figure
		runtime.GC()
		stopped.Store(true)
		return peak.Load()
	}
}

// TestCheckpointPeakLiveHeap checks that writing a checkpoint holds
// little beside the tree: its encoding (about 80 MB for a million files)
// is compressed a piece at a time, never held whole (a mount writes one
// at each named snapshot, and at unmount). What the live heap grows by
// at its peak is compared with the encoding's size. Seen failing with the
// whole encoding built first (1.2 times the encoding).
func TestCheckpointPeakLiveHeap(t *testing.T) {
	const dirs, files = 300, 1000
	tr := NewTree(testChunk, 0, 0, 1)
	for range dirs {
		fill(t, tr, RootIno, files)
	}
	s := remote.NewMemory()
	l, err := Create(context.Background(), s, testKeys(), tr, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	encoded := len(tr.encodeSnapshotLocked(1, testKeys().Suite))
	tr.mu.Unlock()
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	base := liveHeap()
	stop := watchLiveHeap()
	if _, err := l.Snapshot(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	grew := float64(stop()) - float64(base)
	t.Logf("tree of %d files, %d bytes live, %d encoded: the live heap grew by at most %.0f while writing a checkpoint (%.2f times the encoding)",
		dirs*files, base, encoded, grew, grew/float64(encoded))
	if grew > float64(encoded)/2 {
		t.Errorf("writing a checkpoint grew the live heap by %.2f times its encoding, want at most half", grew/float64(encoded))
	}
	if _, _, err := Open(context.Background(), s, testKeys(), LogOptions{}); err != nil {
		t.Fatalf("the checkpoint does not open: %v", err)
	}
}
