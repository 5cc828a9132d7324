package meta

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// TestPendingReplay: the pending ops of a live tree, applied to the tree
// loaded from the same head, give the same tree, and committing them
// gives what committing the live tree would have.
func TestPendingReplay(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, _ := newVault(t, s, LogOptions{})
	live := fx.t
	obj := crypt.ObjectID{1, 2, 3}
	ext := Extent{Object: obj, ObjectSize: 100, Length: 100}
	ok(t, live.SetFileData(fx.g, 100, map[int64]Extent{0: ext}, 9))
	n := must(t)(live.Create(fx.e, "new", 0o644, 1, 1, 10)).Ino
	ok(t, live.SetFileData(n, testChunk+5, map[int64]Extent{1: {Object: crypt.ObjectID{9}, ObjectSize: 5, Length: 5}}, 11))
	_, err := live.Rename(RootIno, "f", fx.x, "moved", 0, 12)
	ok(t, err)
	ok(t, live.SetXattr(fx.d, "user.k", []byte("v"), 0, 13))
	tmp := must(t)(live.Create(RootIno, "tmp", 0o600, 1, 1, 14)).Ino
	_, err = live.Unlink(RootIno, "tmp", 15)
	ok(t, err)
	live.Release(tmp)
	_, err = live.Unlink(fx.d, "g", 16)
	ok(t, err)

	p := live.Pending()
	if want := []Ino{fx.f, n}; !slices.Equal(p.Files, want) {
		t.Errorf("Pending.Files = %v, want %v (g is unlinked, tmp dropped)", p.Files, want)
	}
	if len(p.Objects) != 2 || !slices.Contains(p.Objects, obj) {
		t.Errorf("Pending.Objects = %v", p.Objects)
	}
	if objs := live.PendingObjects(); len(objs) != 2 || !slices.Contains(objs, obj) {
		t.Errorf("PendingObjects = %v", objs)
	}
	if !live.Dirty() {
		t.Fatal("Pending took the ops")
	}
	paths := live.Paths(append(p.Files, fx.e, 12345), nil)
	if paths[fx.f] != "x/moved" || paths[n] != "d/e/new" || paths[fx.e] != "d/e" || len(paths) != 3 {
		t.Errorf("Paths = %v", paths)
	}

	base, l := reopen(t, s)
	ok(t, base.ApplyPending(p.Ops, p.Next))
	sameTree(t, live, base)
	if _, err := l.Commit(ctx, base); err != nil {
		t.Fatal(err)
	}
	again, _ := reopen(t, s)
	sameTree(t, live, again)
	if in := must(t)(again.Create(RootIno, "next", 0o644, 1, 1, 20)); in.Ino < p.Next {
		t.Errorf("new inode %d reuses numbers below %d", in.Ino, p.Next)
	}
}

// TestApplyPendingRejects: ops that do not fit the tree, or that do not
// decode, are errors, never a panic.
func TestApplyPendingRejects(t *testing.T) {
	s := remote.NewMemory()
	fx, _ := newVault(t, s, LogOptions{})
	must(t)(fx.t.Create(RootIno, "a", 0o644, 1, 1, 2))
	p := fx.t.Pending()
	// The same ops twice: "a" exists the second time.
	base, _ := reopen(t, s)
	ok(t, base.ApplyPending(p.Ops, p.Next))
	if err := base.ApplyPending(p.Ops, p.Next); !errors.Is(err, errCorrupt) {
		t.Errorf("ApplyPending twice: %v, want errCorrupt", err)
	}
	for n := range len(p.Ops) {
		base, _ := reopen(t, s)
		if err := base.ApplyPending(p.Ops[:n], p.Next); err == nil {
			t.Fatalf("ApplyPending of %d/%d bytes accepted", n, len(p.Ops))
		}
	}
	snap := encodeBatch(nil, &batch{kind: crypt.KindSnapshot})
	if err := base.ApplyPending(snap, 0); err == nil {
		t.Errorf("a snapshot batch accepted as pending ops")
	}
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPathsCostFollowsTheAnswer: the intent log of every fsync asks for
// the paths of the files it touches; in a tree of 20,000 files that must
// not build a string per entry (it did, for every entry it passed before
// it found them: 16,008 allocations here, and most of the time of an
// fsync in a tree of a million). Names come from the caller's hints,
// pending link ops, and else from one pass over the entries; every way
// gives a name the file has, and asking twice gives the same.
func TestPathsCostFollowsTheAnswer(t *testing.T) {
	fx, l := newVault(t, remote.NewMemory(), LogOptions{})
	tr := fx.t
	var dirs []Ino
	for d := range 20 {
		dirs = append(dirs, must(t)(tr.Mkdir(RootIno, "folder"+itoa(d), 0o755, 0, 0, 2)).Ino)
		for i := range 1000 {
			must(t)(tr.Create(dirs[d], "IMG-"+itoa(i)+".jpg", 0o644, 0, 0, 3))
		}
	}
	f := must(t)(tr.Lookup(dirs[7], "IMG-500.jpg")).Ino
	sub := must(t)(tr.Mkdir(dirs[19], "sub", 0o755, 0, 0, 4)).Ino
	must(t)(tr.Link(f, sub, "again.jpg", 5))
	check := func(when string) {
		t.Helper()
		p := tr.Paths([]Ino{f, sub, fx.g, 999999}, nil)
		if p[f] != "folder7/IMG-500.jpg" && p[f] != "folder19/sub/again.jpg" || p[sub] != "folder19/sub" || p[fx.g] != "d/g" || len(p) != 3 {
			t.Fatalf("%s: Paths = %v", when, p)
		}
	}
	check("pending")
	if _, err := l.Commit(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	check("committed")
	check("asked again")
	_, err := tr.Unlink(dirs[7], "IMG-500.jpg", 6)
	ok(t, err)
	_, err = tr.Rename(dirs[19], "sub", RootIno, "sub", 0, 7)
	ok(t, err)
	if p := tr.Paths([]Ino{f, sub}, nil); p[f] != "sub/again.jpg" || p[sub] != "sub" {
		t.Fatalf("after unlink and rename: Paths = %v", p)
	}
	// A hint is taken only when the folder's entry of that name is the
	// inode's.
	g2 := must(t)(tr.Create(sub, "g2", 0o644, 0, 0, 8)).Ino
	_, err = tr.Link(g2, dirs[2], "g2-again", 9)
	ok(t, err)
	stale := map[Ino]Place{f: {dirs[0], "IMG-1.jpg"}, g2: {sub, "g2"}, fx.g: {fx.d, "nope"}}
	if p := tr.Paths([]Ino{f, g2, fx.g}, stale); p[f] != "sub/again.jpg" || p[g2] != "sub/g2" || p[fx.g] != "d/g" {
		t.Fatalf("with hints %v: Paths = %v", stale, p)
	}
	i := 0
	if n := testing.AllocsPerRun(5, func() {
		i++
		tr.Paths([]Ino{must(t)(tr.Lookup(dirs[i], "IMG-"+itoa(i)+".jpg")).Ino}, nil)
	}); n > 50 {
		t.Errorf("Paths of one file in a tree of 20,000: %.0f allocations, want a few", n)
	}
}
