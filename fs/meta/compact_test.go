package meta

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// putCounter counts the bytes and objects put through it.
type putCounter struct {
	remote.Store
	mu          sync.Mutex
	bytes, puts int
}

func (c *putCounter) Put(ctx context.Context, key string, data []byte, o remote.PutOptions) (string, error) {
	c.mu.Lock()
	c.bytes += len(data)
	c.puts++
	c.mu.Unlock()
	return c.Store.Put(ctx, key, data, o)
}

func (c *putCounter) take() (bytes, puts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bytes, puts, c.bytes, c.puts = c.bytes, c.puts, 0, 0
	return bytes, puts
}

// touchOne gives file f of a filled directory new data (one new extent), the
// change a backup app's fsync of one small file commits.
func touchOne(tb testing.TB, tr *Tree, dir Ino, i, round int) {
	tb.Helper()
	f, err := tr.Lookup(dir, "IMG-20240101-WA"+itoa(100000+i)+".jpg")
	if err != nil {
		tb.Fatal(err)
	}
	id := [16]byte{byte(round), byte(round >> 8), byte(i), byte(i >> 8), 0xbb}
	e := Extent{Object: id, ObjectSize: 900, Length: 900}
	if err := tr.SetFileData(f.Ino, 900, map[int64]Extent{0: e}, int64(round)); err != nil {
		tb.Fatal(err)
	}
}

// TestCommitCostIndependentOfTree is issue 15's "a commit after changing
// one file costs O(change), not O(tree)": 300 commits that each change one
// file upload about as many bytes in a tree of 40,000 files as in one of
// 2,000 (whose checkpoint is 20 times smaller), and no single commit
// rewrites the tree. Reopening gives the same tree.
func TestCommitCostIndependentOfTree(t *testing.T) {
	smallSnap, small, _ := commitCost(t, 2_000)
	bigSnap, big, largest := commitCost(t, 40_000)
	t.Logf("300 one-file commits: %d bytes in a tree of 2,000 files (checkpoint %d), %d in 40,000 (checkpoint %d); largest commit %d",
		small, smallSnap, big, bigSnap, largest)
	if float64(big) > 1.5*float64(small) {
		t.Errorf("the same 300 one-file commits uploaded %d bytes in the big tree, %.1f times the small tree's %d: commits cost O(tree)",
			big, float64(big)/float64(small), small)
	}
	if largest > bigSnap/10 {
		t.Errorf("one commit uploaded %d bytes, %.0f %% of the tree's checkpoint (%d)", largest, 100*float64(largest)/float64(bigSnap), bigSnap)
	}
}

// commitCost fills a tree with files, checkpoints it, then commits 300
// changes of one file each, and returns the checkpoint's bytes, the bytes
// the 300 commits uploaded and the most one of them uploaded.
func commitCost(t *testing.T, files int) (snap, total, largest int) {
	ctx := context.Background()
	s := &putCounter{Store: remote.NewMemory()}
	tr := NewTree(testChunk, 0, 0, 1)
	dir := fill(t, tr, RootIno, files)
	l, err := Create(ctx, s, testKeys(), tr, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ = s.take()
	for r := range 300 {
		touchOne(t, tr, dir, (r*7919)%files, r+1)
		if _, err := l.Commit(ctx, tr); err != nil {
			t.Fatal(err)
		}
		b, _ := s.take()
		total += b
		largest = max(largest, b)
	}
	got, _ := reopen(t, s.Store)
	sameTree(t, tr, got)
	return snap, total, largest
}

// TestFollowerAcrossMerges: a follower of a writer whose commits merge
// journal batches (a merged head does not extend the one it followed, so
// it loads the chain again) sees after each commit exactly what a fresh
// load sees, and the writer writes no checkpoint.
func TestFollowerAcrossMerges(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{SnapshotEvery: 3, NoInline: true})
	w := fx.t
	for i := range 300 {
		must(t)(w.Create(fx.d, "file-"+itoa(i), 0o644, 0, 0, 5))
	}
	if _, err := l.Snapshot(ctx, w); err != nil {
		t.Fatal(err)
	}
	snap := l.Head().Snapshot
	fol := NewFollower(s, testKeys())
	var cur *Tree
	for i := range 10 {
		f := must(t)(w.Create(RootIno, "n"+itoa(i), 0o644, 0, 0, int64(20+i))).Ino
		if err := w.SetFileData(f, 5, map[int64]Extent{0: ext(byte(i+1), 5, 0, 5)}, int64(20+i)); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if _, err := w.Unlink(RootIno, "n"+itoa(i-1), int64(20+i)); err != nil {
				t.Fatal(err)
			}
		}
		cur = followCommit(t, s, l, w, fol, cur, "commit "+itoa(i))
	}
	if h := l.Head(); h.Snapshot != snap || h.Batches > 3 {
		t.Fatalf("after 10 commits: checkpoint %s (was %s), %d batches; want merged batches on the same checkpoint", h.Snapshot, snap, h.Batches)
	}
	if fol.Loads < 3 || fol.Batches == 0 {
		t.Fatalf("%d full loads, %d batches applied: want both kinds", fol.Loads, fol.Batches)
	}
}

// TestMergeVerifiesBatches: a merge re-reads the batches it merges and
// verifies them as Open does, so it never re-seals bytes the store
// changed into a fresh batch: with a stored batch tampered, the commit
// writes a checkpoint from the tree in memory instead, which takes the
// damaged batch out of the chain, and the vault opens to the writer's
// tree.
func TestMergeVerifiesBatches(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{SnapshotEvery: 2, NoInline: true, mergeAlways: true})
	for i := range 2 {
		must(t)(fx.t.Create(RootIno, "f"+itoa(i), 0o644, 0, 0, 5))
		if _, err := l.Commit(ctx, fx.t); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Head().Batches; n != 2 {
		t.Fatalf("%d batches, want 2", n)
	}
	key := l.head.journal[1].key
	sealed, _, err := s.Get(ctx, key)
	ok(t, err)
	sealed[len(sealed)/2] ^= 1
	_, err = s.Put(ctx, key, sealed, remote.PutOptions{})
	ok(t, err)
	if _, _, err := Open(ctx, s, testKeys(), LogOptions{}); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("open after the tampering: %v, want ErrAuth", err)
	}
	l.bodies = nil // as if this Log had not kept it
	before := l.Head().Snapshot
	must(t)(fx.t.Create(RootIno, "g", 0o644, 0, 0, 6))
	h, err := l.Commit(ctx, fx.t)
	if err != nil {
		t.Fatal(err)
	}
	if h.Batches != 0 || h.Snapshot == before {
		t.Fatalf("after a commit that found a tampered batch: %d batches on checkpoint %s (was %s); want a new checkpoint", h.Batches, h.Snapshot, before)
	}
	got, _ := reopen(t, s)
	sameTree(t, fx.t, got)
}

// TestCleanupAfterMerges: batches a merge replaced are no longer named by
// head and Cleanup (sealfs prune) deletes them; the vault still opens to
// the same tree.
func TestCleanupAfterMerges(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{SnapshotEvery: 4, NoInline: true, mergeAlways: true, CleanupGrace: time.Nanosecond})
	for i := range 20 {
		must(t)(fx.t.Create(RootIno, "f"+itoa(i), 0o644, 0, 0, int64(5+i)))
		if _, err := l.Commit(ctx, fx.t); err != nil {
			t.Fatal(err)
		}
	}
	live := []string{l.head.snapshot.key}
	for _, r := range l.head.journal {
		live = append(live, r.key)
	}
	if before := metaKeys(t, s); len(before) <= len(live) {
		t.Fatalf("%d metadata objects for %d live ones: no merge replaced a batch", len(before), len(live))
	}
	if err := l.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if left := metaKeys(t, s); !sameSet(left, live) {
		t.Fatalf("after Cleanup %v, want the live %v", left, live)
	}
	got, _ := reopen(t, s)
	sameTree(t, fx.t, got)
}
