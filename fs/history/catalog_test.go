package history

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

func TestRecordListOpenForget(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, remote.NewMemory())
	v.write(meta.RootIno, "chat.db", []byte("monday"))
	mon := v.snapshot()
	v.write(meta.RootIno, "chat.db", bytes.Repeat([]byte("tuesday "), 10000))
	v.write(meta.RootIno, "img.jpg", []byte("jpeg"))
	v.commit() // a journal batch between snapshots
	tue := v.snapshot()

	snaps, err := v.c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].ID != mon.ID || snaps[1].ID != tue.ID {
		t.Fatalf("List = %+v, want monday then tuesday", snaps)
	}
	if len(mon.ID) != 8 || mon.ID == tue.ID || strings.Trim(mon.ID, "0123456789abcdef") != "" {
		t.Fatalf("ids %q %q: want two distinct 8-hex-digit ids", mon.ID, tue.ID)
	}
	got := snaps[1]
	if got.Files != 2 || got.Bytes != 80000+4 || got.Device != "phone" || got.Time.IsZero() {
		t.Fatalf("tuesday's entry = %+v, want 2 files, 80004 bytes, device phone", got)
	}
	if snaps[0].Files != 1 || snaps[0].Bytes != 6 {
		t.Fatalf("monday's entry = %+v, want 1 file of 6 bytes", snaps[0])
	}

	old, _, err := v.c.Open(ctx, mon.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b := read(t, v.s, v.k, old, meta.RootIno, "chat.db"); string(b) != "monday" {
		t.Fatalf("monday's chat.db = %q", b)
	}
	if _, err := old.Lookup(meta.RootIno, "img.jpg"); err == nil {
		t.Fatal("monday's snapshot shows a file created on tuesday")
	}
	if _, _, err := v.c.Open(ctx, "00000000"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Open(unknown id) = %v, want ErrNoSnapshot", err)
	}

	if _, err := v.c.Forget(ctx, mon.ID, "nosuchid"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Forget with an unknown id = %v, want ErrNoSnapshot", err)
	}
	if snaps, _ := v.c.List(ctx); len(snaps) != 2 {
		t.Fatal("Forget with one unknown id forgot the others")
	}
	if gone, err := v.c.Forget(ctx, mon.ID); err != nil || len(gone) != 1 {
		t.Fatalf("Forget = %v, %v", gone, err)
	}
	snaps, _ = v.c.List(ctx)
	if len(snaps) != 1 || snaps[0].ID != tue.ID {
		t.Fatalf("after forgetting monday: %+v", snaps)
	}
}

func TestRecordNeedsFullSnapshot(t *testing.T) {
	v := newVault(t, remote.NewMemory())
	v.write(meta.RootIno, "a", []byte("a"))
	v.commit()
	if _, err := v.c.Record(v.ctx, v.l, v.t); err == nil {
		t.Fatal("Record named a head with journal batches after its snapshot")
	}
}

// TestTamperCatalog: a catalog entry that was edited, moved to another
// key, or is another kind of record is never listed as a snapshot.
func TestTamperCatalog(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		edit func(v *vault, s Snapshot)
	}{
		{"flipped bit", func(v *vault, s Snapshot) { flip(t, v.s, s.Key, 60) }},
		{"truncated", func(v *vault, s Snapshot) {
			b, _, _ := v.s.Get(ctx, s.Key)
			v.s.Put(ctx, s.Key, b[:len(b)-1], remote.PutOptions{})
		}},
		{"moved to another id", func(v *vault, s Snapshot) {
			b, _, _ := v.s.Get(ctx, s.Key)
			v.s.Delete(ctx, s.Key)
			v.s.Put(ctx, layout.SnapshotKey(s.Tree.Seq, "0badc0de"), b, remote.PutOptions{})
		}},
		{"moved to another seq", func(v *vault, s Snapshot) {
			b, _, _ := v.s.Get(ctx, s.Key)
			v.s.Delete(ctx, s.Key)
			v.s.Put(ctx, layout.SnapshotKey(s.Tree.Seq+1, s.ID), b, remote.PutOptions{})
		}},
		{"meta snapshot replayed as an entry", func(v *vault, s Snapshot) {
			b, _, _ := v.s.Get(ctx, s.Tree.Key)
			v.s.Put(ctx, s.Key, b, remote.PutOptions{})
		}},
		{"head replayed as an entry", func(v *vault, s Snapshot) {
			b, _, _ := v.s.Get(ctx, "head")
			v.s.Put(ctx, s.Key, b, remote.PutOptions{})
		}},
		{"junk key", func(v *vault, s Snapshot) {
			v.s.Put(ctx, layout.SnapshotPrefix+"notes.txt", []byte("hi"), remote.PutOptions{})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVault(t, remote.NewMemory())
			v.write(meta.RootIno, "a", []byte("a"))
			s := v.snapshot()
			tc.edit(v, s)
			snaps, bad, err := v.c.ListAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range snaps {
				if got.ID == s.ID && tc.name != "junk key" || got.Key != s.Key {
					t.Fatalf("tampered entry listed: %+v", got)
				}
			}
			if len(bad) != 1 || !errors.Is(bad[0].Err, crypt.ErrAuth) {
				t.Fatalf("bad = %+v, want one entry failing with ErrAuth", bad)
			}
			if _, err := v.c.List(ctx); !errors.Is(err, crypt.ErrAuth) {
				t.Fatalf("List = %v, want ErrAuth", err)
			}
			// A damaged entry can be forgotten by its key.
			if _, err := v.c.Forget(ctx, bad[0].Key); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSnapshotTreeTampered: the catalog binds the hash of the meta
// snapshot, so swapping in another snapshot object fails.
func TestSnapshotTreeTampered(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, remote.NewMemory())
	v.write(meta.RootIno, "a", []byte("first"))
	first := v.snapshot()
	v.write(meta.RootIno, "a", []byte("second"))
	second := v.snapshot()
	b, _, _ := v.s.Get(ctx, second.Tree.Key)
	v.s.Put(ctx, first.Tree.Key, b, remote.PutOptions{})
	if _, _, err := v.c.Open(ctx, first.ID); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("Open of a snapshot whose tree was replaced = %v, want ErrAuth", err)
	}
	v.s.Delete(ctx, first.Tree.Key)
	if _, _, err := v.c.Open(ctx, first.ID); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Open of a snapshot whose tree is gone = %v, want ErrNotFound", err)
	}
}

// TestTreeKeysProtectSnapshotsFromCleanup: a writer's metadata cleanup
// that keeps TreeKeys leaves every named snapshot loadable.
func TestTreeKeysProtectSnapshotsFromCleanup(t *testing.T) {
	ctx := context.Background()
	mem := remote.NewMemory()
	v := newVault(t, mem)
	// Reopen with a grace period short enough to clean up at once.
	tr, l, err := meta.Open(ctx, mem, v.k, meta.LogOptions{CleanupGrace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	v.t, v.l = tr, l
	var snaps []Snapshot
	for n := range 3 {
		v.write(meta.RootIno, "db", []byte{byte(n)})
		snaps = append(snaps, v.snapshot())
	}
	keep, err := v.c.TreeKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if err := l.CleanupKeep(ctx, func(key string) bool { return keep[key] }); err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if _, _, err := v.c.Open(ctx, s.ID); err != nil {
			t.Fatalf("snapshot %s after cleanup: %v", s.ID, err)
		}
	}
	// Without the keep list, cleanup deletes the older snapshots' trees.
	if err := l.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.c.Open(ctx, snaps[0].ID); err == nil {
		t.Fatal("plain Cleanup kept an old snapshot tree: the keep test above proves nothing")
	}
}
