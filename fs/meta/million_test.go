package meta

import (
	"context"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// TestMillionEntriesPersist snapshots and reloads one directory of
// 1,000,000 files (skipped with -short and under -race, which make it slow).
func TestMillionEntriesPersist(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow")
	}
	ctx := context.Background()
	s := remote.NewMemory()
	tr := NewTree(testChunk, 0, 0, 1)
	start := time.Now()
	d := fill(t, tr, RootIno, 1_000_000)
	t.Logf("1M creates with data: %v", time.Since(start))
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
	if err != nil || len(ents) != 1_000_000 {
		t.Fatalf("ReadDir: %d, %v", len(ents), err)
	}
	t.Logf("first ReadDir after open: %v", time.Since(start))
	if files, _, bytes := got.Stats(); files != 1_000_000 || bytes != 1000*1_000_000 {
		t.Fatalf("Stats %d %d", files, bytes)
	}
}
