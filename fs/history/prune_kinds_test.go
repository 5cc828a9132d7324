package history

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// put seals plaintext as one object, whose id is its content id as a
// format-3 chunk's is, and stores it.
func (v *vault) put(plaintext []byte) crypt.ObjectID {
	v.tb.Helper()
	id := crypt.ContentObjectID(v.k, plaintext)
	sealed, err := crypt.SealObject(v.k, id, plaintext)
	if err != nil {
		v.tb.Fatal(err)
	}
	if _, err := v.s.Put(v.ctx, layout.DataKey(id), sealed, remote.PutOptions{}); err != nil {
		v.tb.Fatal(err)
	}
	return id
}

// link makes name hold exts (chunk index -> extent) of size bytes, as a
// writer that found the content already stored does: no upload.
func (v *vault) link(name string, size int, exts map[int64]meta.Extent) {
	v.tb.Helper()
	in, err := v.t.Create(meta.RootIno, name, 0o644, 0, 0, time.Now().UnixNano())
	if err != nil {
		v.tb.Fatal(err)
	}
	if err := v.t.SetFileData(in.Ino, uint64(size), exts, time.Now().UnixNano()); err != nil {
		v.tb.Fatal(err)
	}
}

// TestPruneKeepsSharedObjects: an object that several files reference
// (format 3 stores identical content once) stays as long as one of them
// is in a kept tree, after the file that first stored it is deleted and
// the snapshots that had it are forgotten: a whole chunk three files
// share, and a pack whose two small files are referenced again by copies.
func TestPruneKeepsSharedObjects(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	v := newVault(t, s)

	chunk := bytes.Repeat([]byte("a chat photo "), testChunk/13)
	cid := v.put(chunk)
	whole := map[int64]meta.Extent{0: {Object: cid, ObjectSize: uint32(len(chunk)), Length: uint32(len(chunk))}}
	for _, name := range []string{"photo.jpg", "export 1 photo.jpg", "export 2 photo.jpg"} {
		v.link(name, len(chunk), whole)
	}

	small1, small2 := []byte("first small file"), []byte("second small file, longer")
	pid := v.put(append(append([]byte{}, small1...), small2...))
	psize := uint32(len(small1) + len(small2))
	part := func(off, n int) map[int64]meta.Extent {
		b := []byte(nil)
		if off == 0 {
			b = small1
		} else {
			b = small2
		}
		return map[int64]meta.Extent{0: {Object: pid, ObjectSize: psize, Offset: uint32(off), Length: uint32(n), Content: crypt.ContentID(v.k, b)}}
	}
	v.link("a.txt", len(small1), part(0, len(small1)))
	v.link("b.txt", len(small2), part(len(small1), len(small2)))
	v.link("a copy.txt", len(small1), part(0, len(small1)))
	v.link("b copy.txt", len(small2), part(len(small1), len(small2)))
	v.commit()
	v.snapshot()

	// The originals go; the copies stay. A newer snapshot keeps the copies.
	for _, name := range []string{"photo.jpg", "a.txt", "b.txt"} {
		if _, err := v.t.Unlink(meta.RootIno, name, time.Now().UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	v.commit()
	v.snapshot()
	// An unreferenced object beside them shows the prune did delete.
	garbage := v.put([]byte("a chunk no tree references"))

	res, err := Prune(ctx, s, v.c, PruneOptions{Policy: Policy{KeepLast: 1}, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Forgotten) != 1 {
		t.Fatalf("forgot %d snapshots, want 1", len(res.Forgotten))
	}
	if _, err := s.Stat(ctx, layout.DataKey(garbage)); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("prune kept an unreferenced object: %v", err)
	}
	for _, id := range []crypt.ObjectID{cid, pid} {
		if _, err := s.Stat(ctx, layout.DataKey(id)); err != nil {
			t.Errorf("prune deleted shared object %s that kept files reference: %v", layout.DataKey(id), err)
		}
	}
	tr, _, err := meta.Open(ctx, s, v.k, meta.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"export 1 photo.jpg": chunk, "export 2 photo.jpg": chunk, "a copy.txt": small1, "b copy.txt": small2} {
		if got := read(t, s, v.k, tr, meta.RootIno, name); !bytes.Equal(got, want) {
			t.Errorf("%s changed after prune", name)
		}
	}
	chk, err := Check(ctx, s, v.c, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if chk.Damaged() || len(chk.Unreferenced) != 0 {
		t.Fatalf("check after prune: damage %v, unreferenced %d", chk.Damage, len(chk.Unreferenced))
	}
}

// TestPruneKeepsAnUploadInFlight: a chunk a writer uploaded and has not
// committed yet is referenced by no tree; within the grace period a real
// prune (not only a dry run) leaves it, and the commit that follows
// names an object that is there.
func TestPruneKeepsAnUploadInFlight(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	h := newHistory3(t, s)
	chunk := []byte("a chunk uploaded, its commit still to come")
	id := h.put(chunk)
	res, err := Prune(ctx, s, h.c, PruneOptions{Policy: Policy{KeepLast: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Young == 0 {
		t.Errorf("prune counted no young object")
	}
	if _, err := s.Stat(ctx, layout.DataKey(id)); err != nil {
		t.Fatalf("prune deleted an upload younger than the grace period: %v", err)
	}
	h.link("late.txt", len(chunk), map[int64]meta.Extent{0: {Object: id, ObjectSize: uint32(len(chunk)), Length: uint32(len(chunk))}})
	h.commit()
	tr, _, err := meta.Open(ctx, s, h.k, meta.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, h.k, tr, meta.RootIno, "late.txt"); !bytes.Equal(got, chunk) {
		t.Fatal("late.txt changed")
	}
}
