package meta

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// TestInlineBatches: a commit of a small change costs one PUT, the head's,
// which carries the batch; a reopened tree and a follower see it; once the
// head carries maxInlineTotal bytes of batches, batches are objects again,
// and the next checkpoint empties the journal.
func TestInlineBatches(t *testing.T) {
	ctx := context.Background()
	mem := remote.NewMemory()
	f := faults.New(mem)
	fx, l := newVault(t, f, LogOptions{SnapshotEvery: 1 << 20})
	fol := NewFollower(mem, testKeys())
	var cur *Tree
	objects := func() int { return len(metaKeys(t, mem)) }
	before := objects()
	for i := range 20 {
		must(t)(fx.t.Create(RootIno, "n"+itoa(i), 0o644, 0, 0, 10))
		puts := f.Calls(faults.Put)
		h, err := l.Commit(ctx, fx.t)
		if err != nil {
			t.Fatal(err)
		}
		if n := f.Calls(faults.Put) - puts; n != 1 {
			t.Fatalf("commit %d: %d PUTs, want 1 (the head)", h.Seq, n)
		}
		if _, err := fol.Peek(ctx); err != nil {
			t.Fatal(err)
		}
		if cur, err = fol.Load(ctx, cur); err != nil {
			t.Fatal(err)
		}
		sameTree(t, fx.t, cur)
	}
	if objects() != before {
		t.Fatalf("%d metadata objects after inline commits, want %d", objects(), before)
	}
	if fol.Loads != 1 || fol.Batches != 19 {
		t.Fatalf("follower: %d full loads, %d batches applied; want 1 and 19", fol.Loads, fol.Batches)
	}
	got, _ := reopen(t, mem)
	sameTree(t, fx.t, got)

	// A batch too big to ride along is an object, as in format 1.
	for i := range 1000 {
		must(t)(fx.t.Create(RootIno, fmt.Sprintf("%x", sha256.Sum256([]byte(itoa(i)))), 0o644, 0, 0, 10))
	}
	if _, err := l.Commit(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	if last := l.head.journal[len(l.head.journal)-1]; last.inline != "" || objects() != before+1 {
		t.Fatalf("a big batch: inline %d bytes, %d objects (want an object)", len(last.inline), objects())
	}
	got, _ = reopen(t, mem)
	sameTree(t, fx.t, got)
	if _, err := l.Snapshot(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	if n := len(l.head.journal); n != 0 {
		t.Fatalf("%d journal entries after a checkpoint", n)
	}
}

// TestHeadAndCheckpointNameTheirParameters: format 2 binds the cipher
// suite and chunk size into the sealed head and checkpoint, so keys built
// from a vault.json with other parameters (a bucket serving an edited
// vault.json to a process that did not check its MAC) are refused, not
// used to map extents with the wrong chunk size.
func TestHeadAndCheckpointNameTheirParameters(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{})
	must(t)(fx.t.Create(RootIno, "a", 0o644, 0, 0, 10))
	if _, err := l.Snapshot(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	var master crypt.Key
	copy(master[:], "meta test master key, 32 bytes!!")
	wrong := crypt.DeriveKeys(master, crypt.SuiteAES256GCM, 2*testChunk)
	_, _, err := Open(ctx, s, wrong, LogOptions{})
	if !errors.Is(err, crypt.ErrAuth) || !strings.Contains(err.Error(), "chunk size") {
		t.Fatalf("Open with another chunk size: %v, want ErrAuth naming the chunk size", err)
	}
	ref := l.SnapshotRef()
	if _, err := OpenSnapshot(ctx, s, wrong, ref); !errors.Is(err, crypt.ErrAuth) || !strings.Contains(err.Error(), "chunk size") {
		t.Fatalf("OpenSnapshot with another chunk size: %v, want ErrAuth naming the chunk size", err)
	}
	if _, err := OpenSnapshot(ctx, s, testKeys(), ref); err != nil {
		t.Fatalf("OpenSnapshot with the right keys: %v", err)
	}
}

// TestSpecialFilesPersist: FIFOs, sockets and device nodes, with their
// rdev, owners and hard links, survive a commit and a reopen.
func TestSpecialFilesPersist(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{})
	fifo := must(t)(fx.t.Mknod(fx.d, "fifo", syscall.S_IFIFO|0o640, 99, 7, 8, 10))
	must(t)(fx.t.Mknod(fx.d, "tty", syscall.S_IFCHR|0o620, 4<<8|1, 0, 5, 10))
	must(t)(fx.t.Mknod(fx.d, "sda", syscall.S_IFBLK|0o660, 8<<8, 0, 6, 10))
	must(t)(fx.t.Mknod(RootIno, "sock", syscall.S_IFSOCK|0o755, 0, 1, 1, 10))
	if _, err := fx.t.Link(fifo.Ino, RootIno, "fifo-link", 11); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.t.Mknod(RootIno, "dir", syscall.S_IFDIR|0o755, 0, 0, 0, 10); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Mknod of a directory: %v, want EINVAL", err)
	}
	if in, _ := fx.t.Get(fifo.Ino); in.Rdev != 0 {
		t.Fatalf("a FIFO kept rdev %d", in.Rdev)
	}
	if _, err := l.Commit(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	got, _ := reopen(t, s)
	sameTree(t, fx.t, got)
	if _, err := l.Snapshot(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	got, _ = reopen(t, s)
	sameTree(t, fx.t, got)
	tty, err := got.Lookup(fx.d, "tty")
	if err != nil || tty.Mode != syscall.S_IFCHR|0o620 || tty.Rdev != 4<<8|1 || tty.Gid != 5 {
		t.Fatalf("tty after reopen: %+v, %v", tty, err)
	}
	if in, _ := got.Get(fifo.Ino); in.Nlink != 2 {
		t.Fatalf("fifo nlink %d after reopen, want 2", in.Nlink)
	}
}
