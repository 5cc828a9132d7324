package meta

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// TestReplace: a follower's tree takes the new content whole, hands back
// the old one, and keeps an open file the new tree lacks as an unlinked
// inode until Release.
func TestReplace(t *testing.T) {
	const chunk = 64 << 10
	cur := NewTree(chunk, 0, 0, 1)
	must := func(in Inode, err error) Inode {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	must(cur.Create(RootIno, "x", 0o644, 0, 0, 2))
	open := must(cur.Create(RootIno, "open", 0o600, 0, 0, 2))
	open = must(cur.SetAttr(open.Ino, SetAttrIn{Size: ptr(uint64(1000))}, 3))
	dir := must(cur.Mkdir(RootIno, "dir", 0o755, 0, 0, 2))

	next := NewTree(chunk, 0, 0, 5)
	must(next.Create(RootIno, "new", 0o644, 0, 0, 6))

	old := cur.Replace(next, []Ino{open.Ino, dir.Ino, 99})

	if _, err := cur.Lookup(RootIno, "new"); err != nil {
		t.Errorf("new name missing after Replace: %v", err)
	}
	for _, name := range []string{"x", "open", "dir"} {
		if _, err := cur.Lookup(RootIno, name); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("old name %q after Replace: %v, want ENOENT", name, err)
		}
	}
	kept, ok := cur.Get(open.Ino)
	if !ok || kept.Nlink != 0 || kept.Size != 1000 || kept.Mode != open.Mode {
		t.Errorf("open file after Replace: %+v, %v; want it unlinked with its size", kept, ok)
	}
	if _, ok := cur.Get(dir.Ino); ok {
		t.Errorf("a directory was kept; only open regular files are")
	}
	if files, dirs, bytes := cur.Stats(); files != 2 || dirs != 1 || bytes != 1000 {
		t.Errorf("Stats = %d files, %d dirs, %d bytes; want 2, 1, 1000", files, dirs, bytes)
	}
	if _, err := old.Lookup(RootIno, "x"); err != nil {
		t.Errorf("old tree lost %q: %v", "x", err)
	}
	if _, err := old.Lookup(RootIno, "new"); err == nil {
		t.Errorf("old tree has the new name")
	}

	cur.Release(open.Ino)
	if _, ok := cur.Get(open.Ino); ok {
		t.Errorf("kept file still there after Release")
	}
	if in, err := cur.Create(RootIno, "later", 0o644, 0, 0, 7); err != nil || in.Ino <= open.Ino {
		t.Errorf("new inode %d (%v) after Replace; numbers must not be reused (kept %d)", in.Ino, err, open.Ino)
	}
}

// TestFollowerIncremental: a Follower applies only the new journal batches
// while the writer keeps committing on the same snapshot, including
// batches that name an inode unlinked in an earlier one (open on the
// writer), and each tree equals what Open loads; a new snapshot means a
// full load; a tampered new batch is an error wrapping crypt.ErrAuth.
func TestFollowerIncremental(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{SnapshotEvery: 1000, NoInline: true})
	w := fx.t
	// A tree big enough that the writer's next commits are journal
	// batches, not snapshots (it writes one when the journal outgrows it).
	for i := range 300 {
		must(t)(w.Create(fx.d, fmt.Sprintf("file-%d", i), 0o644, 0, 0, 5))
	}
	if _, err := l.Snapshot(ctx, w); err != nil {
		t.Fatal(err)
	}
	fol := NewFollower(s, testKeys())
	var cur *Tree
	step := func(name string, change func()) {
		t.Helper()
		change()
		cur = followCommit(t, s, l, w, fol, cur, name)
	}
	step("first", func() { must(t)(w.Create(RootIno, "a", 0o644, 0, 0, 10)) })
	if fol.Loads != 1 || fol.Batches != 0 {
		t.Fatalf("first load: %d loads, %d batches; want one full load", fol.Loads, fol.Batches)
	}
	var open Ino
	step("unlink an open file", func() {
		open = must(t)(w.Create(RootIno, "open", 0o644, 0, 0, 11)).Ino
		if _, err := w.Unlink(RootIno, "open", 12); err != nil {
			t.Fatal(err)
		}
	})
	step("write to it, then drop it", func() {
		size := uint64(10)
		if _, err := w.SetAttr(open, SetAttrIn{Size: &size}, 13); err != nil {
			t.Fatal(err)
		}
		w.Release(open)
		must(t)(w.Mkdir(RootIno, "dir", 0o755, 0, 0, 14))
	})
	step("rename", func() {
		if _, err := w.Rename(RootIno, "dir", RootIno, "moved", 0, 15); err != nil {
			t.Fatal(err)
		}
	})
	if fol.Loads != 1 || fol.Batches != 3 {
		t.Fatalf("%d loads, %d batches; want 1 full load and 3 batches applied", fol.Loads, fol.Batches)
	}

	must(t)(w.Create(RootIno, "b", 0o644, 0, 0, 16))
	if _, err := l.Snapshot(ctx, w); err != nil {
		t.Fatal(err)
	}
	step("after a snapshot", func() { must(t)(w.Create(RootIno, "c", 0o644, 0, 0, 17)) })
	if fol.Loads != 2 {
		t.Fatalf("%d full loads; a new snapshot needs one", fol.Loads)
	}

	must(t)(w.Create(RootIno, "d2", 0o644, 0, 0, 18))
	if _, err := l.Commit(ctx, w); err != nil {
		t.Fatal(err)
	}
	h, err := fol.Peek(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	ok(t, s.List(ctx, "meta/", func(i remote.ObjectInfo) error { keys = append(keys, i.Key); return nil }))
	last := keys[len(keys)-1] // the newest batch: keys sort by seq
	sealed, _, err := s.Get(ctx, last)
	ok(t, err)
	sealed[len(sealed)/2] ^= 1
	_, err = s.Put(ctx, last, sealed, remote.PutOptions{})
	ok(t, err)
	if _, err := fol.Load(ctx, cur); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("load of head %d with a tampered batch: %v, want ErrAuth", h.Seq, err)
	}
}
