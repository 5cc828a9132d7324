package meta

import (
	"context"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// TestMillionEntriesPersist snapshots and reloads one directory of
// 1,000,000 files; 100,000 under -race or -short (CI), where the race
// detector makes the million take minutes.
func TestMillionEntriesPersist(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	ctx := context.Background()
	s := remote.NewMemory()
	tr := NewTree(testChunk, 0, 0, 1)
	start := time.Now()
	d := fill(t, tr, RootIno, n)
	t.Logf("%d creates with data: %v", n, time.Since(start))
	start = time.Now()
	l, err := Create(ctx, s, testKeys(), tr, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot: %v, %d sealed bytes", time.Since(start), l.snapBytes)
	start = time.Now()
	got, _, err := Open(ctx, s, testKeys(), LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open: %v", time.Since(start))
	start = time.Now()
	ents, err := got.ReadDir(d)
	if err != nil || len(ents) != n {
		t.Fatalf("ReadDir: %d, %v", len(ents), err)
	}
	t.Logf("first ReadDir after open: %v", time.Since(start))
	if files, _, bytes := got.Stats(); files != uint64(n) || bytes != 1000*uint64(n) {
		t.Fatalf("Stats %d %d", files, bytes)
	}
}
