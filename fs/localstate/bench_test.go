package localstate

import (
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/meta"
)

// BenchmarkObserve measures raising the mark, which a mount does after
// every commit: flock, read and open the file, seal, write, two fsyncs.
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
