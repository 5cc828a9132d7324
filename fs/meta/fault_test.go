package meta

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

func isHead(c faults.Call) bool { return c.Key == layout.Head }

// TestCommitFaults fails a commit at each step and checks that the store
// still opens (to the state before or after the commit, never anything
// else), that nothing pending is lost, and that the next commit works.
func TestCommitFaults(t *testing.T) {
	errLost412 := fmt.Errorf("retry saw: %w", remote.ErrPrecondition)
	tests := []struct {
		name    string
		inject  func(f *faults.Store)
		wantErr bool
		landed  bool // the failed-looking commit did happen
		// stillBroken is injected for the second commit too (cleared for a third).
		stillBroken func(f *faults.Store)
	}{
		{name: "batch put fails", inject: func(f *faults.Store) {
			f.Inject(faults.Put, faults.Fail(faults.ErrServer).If(faults.KeyPrefix("meta/")))
		}, wantErr: true},
		{name: "batch put lost", inject: func(f *faults.Store) {
			f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).If(faults.KeyPrefix("meta/")))
		}, wantErr: true},
		{name: "head put fails", inject: func(f *faults.Store) {
			f.Inject(faults.Put, faults.Fail(faults.ErrServer).If(isHead))
		}, wantErr: true},
		{name: "head put lost, read back works", inject: func(f *faults.Store) {
			f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).If(isHead))
		}, landed: true},
		{name: "head put landed, retry got 412", inject: func(f *faults.Store) {
			f.Inject(faults.Put, faults.LoseResponse(errLost412).If(isHead))
		}, landed: true},
		{name: "head put lost, read back fails", inject: func(f *faults.Store) {
			f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).If(isHead))
			f.Inject(faults.Get, faults.Fail(faults.ErrServer).If(isHead))
		}, wantErr: true, landed: true},
		{name: "head put fails, read back fails", inject: func(f *faults.Store) {
			f.Inject(faults.Put, faults.Fail(faults.ErrServer).If(isHead))
			f.Inject(faults.Get, faults.Fail(faults.ErrServer).If(isHead))
		}, wantErr: true},
		{name: "outcome unknown over two commits", inject: func(f *faults.Store) {
			f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).If(isHead))
			f.Inject(faults.Get, faults.Fail(faults.ErrServer).If(isHead))
		}, wantErr: true, landed: true, stillBroken: func(f *faults.Store) {
			f.Inject(faults.Get, faults.Fail(faults.ErrServer).If(isHead))
		}},
	}
	for _, tc := range tests {
		for _, every := range []int{100, 1, mergeCommit} { // journal batch, snapshot, merged batch
			t.Run(fmt.Sprintf("%s/snapshotEvery=%d", tc.name, every), func(t *testing.T) {
				runCommitFault(t, remote.NewMemory(), every, tc.inject, tc.stillBroken, tc.wantErr, tc.landed)
			})
		}
	}
}

// mergeCommit as runCommitFault's every makes the failing commit merge a
// committed batch with its own (SnapshotEvery 1, merging only).
const mergeCommit = -1

func runCommitFault(t *testing.T, mem remote.Store, every int, inject, stillBroken func(*faults.Store), wantErr, landed bool) {
	ctx := context.Background()
	f := faults.New(mem)
	opts := LogOptions{SnapshotEvery: every, NoInline: true}
	if every == mergeCommit {
		opts.SnapshotEvery, opts.mergeAlways = 1, true
	}
	fx, l := newVault(t, f, opts)
	for i := range 100 {
		must(t)(fx.t.Create(fx.d, "pad-"+itoa(i), 0o644, 0, 0, 5))
	}
	if _, err := l.Snapshot(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	if every == mergeCommit {
		must(t)(fx.t.Create(RootIno, "a0", 0o644, 0, 0, 9))
		if err := fx.t.SetFileData(fx.f, 3, map[int64]Extent{0: ext(6, 3, 0, 3)}, 9); err != nil {
			t.Fatal(err)
		}
		if h, err := l.Commit(ctx, fx.t); err != nil || h.Batches != 1 {
			t.Fatalf("first batch: %v, %d batches", err, h.Batches)
		}
	}
	before := dumpLinked(fx.t)
	seq := l.Head().Seq
	must(t)(fx.t.Create(RootIno, "a1", 0o644, 0, 0, 10))
	must(t)(fx.t.Mkdir(fx.x, "a2", 0o755, 0, 0, 10))
	if err := fx.t.SetFileData(fx.f, 5, map[int64]Extent{0: ext(7, 5, 0, 5)}, 10); err != nil {
		t.Fatal(err)
	}
	after := dumpLinked(fx.t)

	inject(f)
	_, err := l.Commit(ctx, fx.t)
	f.Clear()
	if (err != nil) != wantErr {
		t.Fatalf("Commit error %v, want error: %v", err, wantErr)
	}
	if errors.Is(err, ErrFenced) {
		t.Fatalf("a fault was taken for another writer: %v", err)
	}
	stored, _ := reopen(t, mem)
	if want := map[bool]string{false: before, true: after}[landed]; dumpLinked(stored) != want {
		t.Fatalf("store after the failed commit holds neither state:\n%s", dumpLinked(stored))
	}
	if err != nil && !fx.t.Dirty() {
		t.Fatal("failed commit lost the pending changes")
	}
	if !wantErr && l.Head().Seq != seq+1 {
		t.Fatalf("head seq %d, want %d", l.Head().Seq, seq+1)
	}
	if every == mergeCommit && landed && l.Head().Batches != 1 {
		t.Fatalf("%d journal batches after a merging commit, want 1", l.Head().Batches)
	}

	must(t)(fx.t.Create(fx.d, "b1", 0o644, 0, 0, 11))
	if _, err := fx.t.Rename(RootIno, "a1", fx.d, "a1", 0, 11); err != nil {
		t.Fatal(err)
	}
	if stillBroken != nil {
		stillBroken(f)
		if _, err := l.Commit(ctx, fx.t); err == nil || errors.Is(err, ErrFenced) {
			t.Fatalf("commit with an unresolved doubt: %v", err)
		}
		f.Clear()
	}
	h, err := l.Commit(ctx, fx.t)
	if err != nil {
		t.Fatalf("commit after the fault: %v", err)
	}
	if want := seq + 2; h.Seq != want && !(wantErr && !landed && h.Seq == seq+1) {
		t.Fatalf("head seq %d after recovery", h.Seq)
	}
	if fx.t.Dirty() {
		t.Fatal("still dirty")
	}
	got, _ := reopen(t, mem)
	sameTree(t, fx.t, got)
}

func TestFenced(t *testing.T) { runFenced(t, remote.NewMemory()) }

func runFenced(t *testing.T, s remote.Store) {
	ctx := context.Background()
	fx, l1 := newVault(t, s, LogOptions{Device: "phone"})
	t2, l2 := reopen(t, s)
	must(t)(fx.t.Create(RootIno, "one", 0o644, 0, 0, 10))
	if _, err := l1.Commit(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	must(t)(t2.Create(RootIno, "two", 0o644, 0, 0, 10))
	_, err := l2.Commit(ctx, t2)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("stale writer: %v, want ErrFenced", err)
	}
	t.Logf("message: %v", err)
	if !t2.Dirty() {
		t.Fatal("fenced commit dropped the pending changes")
	}
	if _, err := l2.Commit(ctx, t2); !errors.Is(err, ErrFenced) {
		t.Fatalf("second commit of a fenced log: %v", err)
	}
	if err := l2.Cleanup(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("Cleanup of a fenced log: %v", err)
	}
	got, _ := reopen(t, s)
	sameTree(t, fx.t, got)
	if _, err := l1.Commit(ctx, fx.t); err != nil {
		t.Fatalf("the winner goes on: %v", err)
	}
}
