package localstate

import (
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/meta"
)

// BenchmarkObserve measures raising the mark, which a mount does after
// every commit: flock, read and open both slots, seal twice, write one
// slot in place, one fdatasync, write the unsynced copy.
func BenchmarkObserve(b *testing.B) {
	var k [32]byte
	s, err := Open(b.TempDir(), k)
	if err != nil {
		b.Fatal(err)
	}
	h := meta.Head{Time: time.Now(), Device: "laptop", MountID: "m"}
	b.ReportAllocs()
	for b.Loop() {
		h.Seq++
		if err := s.Observe(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObserveOlderLayout is the same save by the older sealfs (one
// record, replaced through a temporary file: two fsyncs, a rename; frozen
// in slots_test.go), to compare in the same run.
func BenchmarkObserveOlderLayout(b *testing.B) {
	var k [32]byte
	dir := b.TempDir()
	h := meta.Head{Time: time.Now(), Device: "laptop", MountID: "m"}
	b.ReportAllocs()
	for b.Loop() {
		h.Seq++
		if err := legacyObserve(dir, k, h); err != nil {
			b.Fatal(err)
		}
	}
}
