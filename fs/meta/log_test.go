package meta

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

func TestCreateOpen(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{Device: "laptop"})
	h := l.Head()
	if h.Seq != 1 || h.Device != "laptop" || h.MountID != "mount-1" || h.Batches != 0 || h.Snapshot == "" {
		t.Fatalf("head after Create: %+v", h)
	}
	if fx.t.Dirty() {
		t.Fatal("dirty after Create")
	}
	got, _ := reopen(t, s)
	sameTree(t, fx.t, got)
	if _, err := Create(ctx, s, testKeys(), NewTree(testChunk, 0, 0, 1), LogOptions{}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("second Create: %v, want ErrPrecondition", err)
	}
	rh, err := ReadHead(ctx, s, testKeys())
	if err != nil || rh.Seq != 1 || rh.Device != "laptop" || !rh.Time.Equal(h.Time) {
		t.Fatalf("ReadHead = %+v, %v", rh, err)
	}
}

func TestOpenNoVault(t *testing.T) {
	_, _, err := Open(context.Background(), remote.NewMemory(), testKeys(), LogOptions{})
	if !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Open of an empty store: %v, want ErrNotFound", err)
	}
}

func TestCommitJournal(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{SnapshotEvery: 1000})
	// Make the snapshot big so that batches stay batches.
	for i := range 300 {
		must(t)(fx.t.Create(fx.d, "file-"+itoa(i), 0o644, 0, 0, 5))
	}
	if _, err := l.Snapshot(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		must(t)(fx.t.Create(RootIno, "n"+itoa(i), 0o644, 0, 0, 10))
		if err := fx.t.SetFileData(fx.f, uint64(i+1)*10, map[int64]Extent{0: ext(byte(i+1), 100, 0, uint32(i+1)*10)}, 11); err != nil {
			t.Fatal(err)
		}
		h, err := l.Commit(ctx, fx.t)
		if err != nil {
			t.Fatal(err)
		}
		if h.Seq != uint64(i+3) || h.Batches != i+1 {
			t.Fatalf("commit %d: head %+v", i, h)
		}
		got, _ := reopen(t, s)
		sameTree(t, fx.t, got)
	}
	before := l.Head()
	if h, err := l.Commit(ctx, fx.t); err != nil || h.Seq != before.Seq {
		t.Fatalf("empty commit: %+v, %v", h, err)
	}
	h, err := l.Snapshot(ctx, fx.t)
	if err != nil || h.Batches != 0 || h.Snapshot == before.Snapshot {
		t.Fatalf("Snapshot: %+v, %v", h, err)
	}
	got, _ := reopen(t, s)
	sameTree(t, fx.t, got)
}

// TestSnapshotCadence: a commit that finds SnapshotEvery batches compacts
// them: in a tree whose checkpoint is large next to them it merges them
// with its own batch into one (no checkpoint); in a small tree it writes
// a checkpoint. Both reload to the live tree.
func TestSnapshotCadence(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		files int
		want  []int
		snaps int
	}{
		{300, []int{1, 2, 3, 1, 2, 3, 1, 2}, 0},
		{0, []int{1, 2, 3, 0, 1, 2, 3, 0}, 2},
	} {
		s := remote.NewMemory()
		fx, l := newVault(t, s, LogOptions{SnapshotEvery: 3})
		for i := range tc.files {
			must(t)(fx.t.Create(fx.d, "file-"+itoa(i), 0o644, 0, 0, 5))
		}
		l.Snapshot(ctx, fx.t)
		first := l.Head().Snapshot
		var batches []int
		snaps := 0
		for i := range 8 {
			must(t)(fx.t.Create(RootIno, "n"+itoa(i), 0o644, 0, 0, 10))
			h, err := l.Commit(ctx, fx.t)
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, h.Batches)
			if h.Snapshot != first {
				first = h.Snapshot
				snaps++
			}
		}
		if !slices.Equal(batches, tc.want) || snaps != tc.snaps {
			t.Fatalf("%d files: batches after each commit %v, want %v; %d checkpoints, want %d", tc.files, batches, tc.want, snaps, tc.snaps)
		}
		got, _ := reopen(t, s)
		sameTree(t, fx.t, got)
	}
	// A journal outgrowing the snapshot (and minJournalBytes) also
	// triggers one.
	fx2, l2 := newVault(t, remote.NewMemory(), LogOptions{})
	for i := range 4000 {
		must(t)(fx2.t.Create(RootIno, fmt.Sprintf("big-%x", sha256.Sum256([]byte(itoa(i))))[:40], 0o644, 0, 0, 10))
	}
	l2.Commit(ctx, fx2.t)
	must(t)(fx2.t.Create(RootIno, "one", 0o644, 0, 0, 10))
	if h, _ := l2.Commit(ctx, fx2.t); h.Batches != 0 {
		t.Fatalf("journal bigger than the snapshot, still %d batches", h.Batches)
	}
}

func TestOrphansDroppedAtLoad(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{})
	fx.t.SetFileData(fx.f, 10, map[int64]Extent{0: ext(9, 10, 0, 10)}, 3)
	fx.t.Unlink(RootIno, "f", 4) // still open: not released
	fx.t.Rmdir(fx.d, "e", 4)
	if _, err := l.Snapshot(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	// Written after the snapshot, about an inode the snapshot holds unlinked.
	fx.t.SetFileData(fx.f, 20, map[int64]Extent{0: ext(10, 20, 0, 20)}, 5)
	fx.t.Release(fx.f)
	if _, err := l.Commit(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	got, _ := reopen(t, s)
	sameTree(t, fx.t, got)
	if _, ok := got.Get(fx.e); ok {
		t.Fatal("removed directory survived a reload")
	}
	if files, _, bytes := got.Stats(); files != 1 || bytes != 0 {
		t.Fatalf("Stats after reload %d files %d bytes", files, bytes)
	}
	// Inode numbers keep increasing across a reload.
	in := must(t)(got.Create(RootIno, "new", 0o644, 0, 0, 9))
	if in.Ino <= fx.x || in.Ino <= fx.s {
		t.Fatalf("new inode %d reuses a number", in.Ino)
	}
}

func TestInodeNumbersNeverReused(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{})
	last := must(t)(fx.t.Create(RootIno, "tmp", 0o644, 0, 0, 9)).Ino
	fx.t.Unlink(RootIno, "tmp", 10)
	fx.t.Release(last)
	if _, err := l.Commit(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	got, _ := reopen(t, s)
	if in := must(t)(got.Create(RootIno, "new", 0o644, 0, 0, 11)); in.Ino <= last {
		t.Fatalf("inode %d after reload, %d was already used", in.Ino, last)
	}
}

// TestConcurrentCommits runs file system calls while commits run, under
// -race, then checks the store holds exactly the live tree.
func TestConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{SnapshotEvery: 4})
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.Commit(ctx, fx.t); err != nil {
				errc <- err
				return
			}
		}
	}()
	for w := range 2 {
		for i := range 300 {
			name := itoa(w) + "-" + itoa(i)
			in := must(t)(fx.t.Create(fx.d, name, 0o644, 0, 0, int64(i)))
			fx.t.SetFileData(in.Ino, 10, map[int64]Extent{0: ext(byte(i), 10, 0, 10)}, int64(i))
			if i%3 == 0 {
				fx.t.Rename(fx.d, name, fx.x, name, 0, int64(i))
			}
			if i%7 == 0 {
				fx.t.Unlink(fx.d, name, int64(i))
				fx.t.Release(in.Ino)
			}
			fx.t.ReadDir(fx.d)
		}
	}
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := l.Commit(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	got, _ := reopen(t, s)
	sameTree(t, fx.t, got)
}
