package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/remote"
)

// randomBytes returns n bytes that repeat nothing (so only the test's own
// copies can be deduplicated).
func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// dedupVault is a vault in store whose data uploads are counted.
func dedupVault(t *testing.T, store remote.Store) (*testVault, *putCounter) {
	pc := &putCounter{Store: store}
	return newVault(t, pc, testChunk), pc
}

// TestDedupCopies: content already in the store is referenced, not
// uploaded again (issue 21): a copy of a file in another folder, a chunk
// repeated within one file, and a copy written by a later mount on another
// device. Every copy reads back byte for byte, before and after a remount.
func TestDedupCopies(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			tv, pc := dedupVault(t, s.new(t))
			// 3.5 chunks: three full chunks and a tail too large to be packed.
			orig := randomBytes(t, 3*testChunk+testChunk/2)
			v := tv.open(t)
			_, err := v.mkdirPath("/a")
			ok(t, err)
			_, err = v.mkdirPath("/b")
			ok(t, err)
			ok(t, v.writeFile("/a/msgstore.db", orig))
			ok(t, v.Sync(context.Background()))
			first := pc.bytes.Load()
			if first < int64(len(orig)) {
				t.Fatalf("the first copy uploaded %d bytes, less than its %d", first, len(orig))
			}

			ok(t, v.writeFile("/b/msgstore.db", orig))
			ok(t, v.Sync(context.Background()))
			if got := pc.bytes.Load() - first; got != 0 {
				t.Errorf("a copy in another folder uploaded %d data bytes; want 0", got)
			}
			if st := v.Stats(); st.DedupChunks != 4 || st.DedupBytes != int64(len(orig)) {
				t.Errorf("Stats: %d chunks, %d bytes deduplicated; want 4, %d", st.DedupChunks, st.DedupBytes, len(orig))
			}

			// One chunk three times in one file: stored once.
			chunk := randomBytes(t, testChunk)
			before := pc.bytes.Load()
			ok(t, v.writeFile("/a/repeats.bin", bytes.Repeat(chunk, 3)))
			ok(t, v.Sync(context.Background()))
			if got := pc.bytes.Load() - before; got >= 2*testChunk {
				t.Errorf("a chunk repeated 3 times in a file uploaded %d bytes; want one chunk (%d)", got, testChunk)
			}
			v.close(t)

			// Another device, a fresh cache: the tree it loads is the index.
			w := tv.open(t)
			before = pc.bytes.Load()
			ok(t, w.writeFile("/copy-from-elsewhere.db", orig))
			ok(t, w.Sync(context.Background()))
			if got := pc.bytes.Load() - before; got != 0 {
				t.Errorf("a later mount's copy uploaded %d data bytes; want 0", got)
			}
			for _, p := range []string{"/a/msgstore.db", "/b/msgstore.db", "/copy-from-elsewhere.db"} {
				wantContent(t, w.Vault, p, orig)
			}
			wantContent(t, w.Vault, "/a/repeats.bin", bytes.Repeat(chunk, 3))
			w.close(t)
			r := tv.readOnly(t)
			wantContent(t, r.Vault, "/copy-from-elsewhere.db", orig)
			if n := r.Tree().Objects(); n != 5 {
				t.Errorf("the tree references %d objects; want 5 (4 of msgstore.db, 1 of repeats.bin)", n)
			}
		})
	}
}

// TestDedupConcurrentCopies: versions of the same content sealed at the
// same moment share one upload (one stores it, the others wait for it).
func TestDedupConcurrentCopies(t *testing.T) {
	tv, pc := dedupVault(t, remote.NewMemory())
	v := tv.open(t)
	data := randomBytes(t, testChunk)
	const copies = 8
	errs := make(chan error, copies)
	for i := range copies {
		go func() { errs <- v.writeFile("/copy"+string(rune('a'+i)), data) }()
	}
	for range copies {
		ok(t, <-errs)
	}
	ok(t, v.Sync(context.Background()))
	if got := pc.bytes.Load(); got != crypt.ObjectCipherSize(testChunk) {
		t.Errorf("%d copies of one chunk written at once uploaded %d bytes; want one object (%d)",
			copies, got, crypt.ObjectCipherSize(testChunk))
	}
}

// TestDedupRefreshesOrphanedObject: a deduplicated reference that became
// the tree's only one to an object this mount did not store (the original
// was deleted and committed while the copy was still open) makes the
// object young again before any intent log names it, so prune's grace
// period protects it as it protects fresh uploads. Without the refresh, a
// crash before the next commit and a prune after the lease expired would
// delete the copy's data (it is referenced only by the intent log).
func TestDedupRefreshesOrphanedObject(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			tv, pc := dedupVault(t, s.new(t))
			data := randomBytes(t, testChunk)
			v := tv.open(t)
			ok(t, v.writeFile("/orig", data))
			v.close(t)

			w := tv.open(t) // a new mount: it stored nothing itself
			f, err := w.create("/copy")
			ok(t, err)
			_, err = f.WriteAt(context.Background(), data, 0)
			ok(t, err)
			ok(t, f.Fsync(context.Background())) // uploads nothing: the object is there
			before := pc.bytes.Load()
			if before != crypt.ObjectCipherSize(testChunk) {
				t.Fatalf("uploaded %d bytes; want the original only", before)
			}
			// The copy is published by its fsync; delete the original and commit.
			in, err := w.lookupPath("/")
			ok(t, err)
			ok(t, w.Unlink(in.Ino, "orig"))
			ok(t, w.Sync(context.Background()))
			f.Release()
			if st := w.Stats(); st.DedupRefreshed != 0 {
				t.Errorf("refreshed %d objects while the original still referenced it at publish", st.DedupRefreshed)
			}

			// Now the other order: the copy is published after the
			// original's deletion was committed.
			ok(t, w.writeFile("/orig2", data)) // referenced by /copy: a hit
			g, err := w.create("/copy2")
			ok(t, err)
			_, err = g.WriteAt(context.Background(), data, 0)
			ok(t, err)
			// The complete chunk is sent at once: a hit, while /copy
			// and /orig2 reference the object.
			eventually(t, "the copy's chunk found in the store", func() error {
				if st := w.Stats(); st.DedupChunks != 3 {
					return fmt.Errorf("%d chunks deduplicated", st.DedupChunks)
				}
				return nil
			})
			ok(t, w.Unlink(in.Ino, "copy"))
			ok(t, w.Unlink(in.Ino, "orig2"))
			ok(t, w.FsyncDir(context.Background())) // commits; /copy2 is open and not published
			if w.Tree().Referenced(crypt.ContentObjectID(tv.keys, data)) {
				t.Fatal("the tree still references the object")
			}
			before = pc.bytes.Load()
			ok(t, g.Flush()) // publishes the only reference
			g.Release()
			ok(t, w.Sync(context.Background()))
			if st := w.Stats(); st.DedupRefreshed != 1 {
				t.Errorf("refreshed %d objects; want 1", st.DedupRefreshed)
			}
			if got := pc.bytes.Load() - before; got != crypt.ObjectCipherSize(testChunk) {
				t.Errorf("the refresh uploaded %d bytes; want the object again (%d)", got, crypt.ObjectCipherSize(testChunk))
			}
			wantContent(t, w.Vault, "/copy2", data)
		})
	}
}

// TestDedupFreshInsideGrace: a reference to an object this mount stored is
// not refreshed only while prune's default grace period protects it with a
// margin.
func TestDedupFreshInsideGrace(t *testing.T) {
	if dedupFresh > history.DefaultGrace/2 {
		t.Fatalf("dedupFresh %v is not well inside prune's grace period %v", dedupFresh, history.DefaultGrace)
	}
}

// TestDedupPacksAndHolesUnchanged: small files still share packs with
// random ids, and a chunk of zeros is still a hole: content ids apply to
// whole chunk objects only.
func TestDedupPacksAndHolesUnchanged(t *testing.T) {
	tv, _ := dedupVault(t, remote.NewMemory())
	v := tv.open(t)
	ok(t, v.writeFile("/zeros", make([]byte, 2*testChunk)))
	ok(t, v.writeFile("/small", []byte("hello")))
	ok(t, v.Sync(context.Background()))
	in, err := v.lookupPath("/zeros")
	ok(t, err)
	if len(in.Extents) != 0 {
		t.Errorf("a file of zeros has extents %v; want holes", in.Extents)
	}
	in, err = v.lookupPath("/small")
	ok(t, err)
	padded := make([]byte, paddedSize(5, testChunk))
	copy(padded, "hello")
	if len(in.Extents) != 1 || in.Extents[0].Object == crypt.ContentObjectID(tv.keys, padded) {
		t.Errorf("a small file's extents %v; want one in a pack with a random id", in.Extents)
	}
}

// TestDedupSmallFiles: a small file is packed with others; an identical
// small file, written later or by a later mount, references the packed
// bytes instead of being packed again (format 3 keeps their content id in
// the extent).
func TestDedupSmallFiles(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			tv, pc := dedupVault(t, s.new(t))
			photos := map[string][]byte{}
			for i := range 20 {
				photos[fmt.Sprintf("/IMG-%02d.jpg", i)] = randomBytes(t, 1000+i*500)
			}
			v := tv.open(t)
			writeFiles(t, v.Vault, photos)
			ok(t, v.Sync(context.Background()))
			v.close(t)

			w := tv.open(t) // another device: the index comes from the tree
			before := pc.bytes.Load()
			copies := map[string][]byte{}
			for name, data := range photos {
				copies["/copy"+name] = data
			}
			writeFiles(t, w.Vault, copies)
			ok(t, w.Sync(context.Background()))
			if got := pc.bytes.Load() - before; got != 0 {
				t.Errorf("copies of 20 packed photos uploaded %d data bytes; want 0", got)
			}
			if st := w.Stats(); st.DedupChunks != 20 {
				t.Errorf("%d small files deduplicated; want 20", st.DedupChunks)
			}
			w.close(t)
			r := tv.readOnly(t)
			wantFiles(t, r.Vault, photos)
			wantFiles(t, r.Vault, copies)
		})
	}
}

// TestDedupTwinsInOnePack: two identical small files closed together
// wait in one pack (the pack held until flushed here, so the packing does
// not depend on timing); the pack holds their bytes once and both
// extents name them, and both read back on another device.
func TestDedupTwinsInOnePack(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			tv, _ := dedupVault(t, s.new(t))
			v := tv.open(t, lingerAnHour)
			photo := randomBytes(t, 3000)
			twins := map[string][]byte{"/a/photo.jpg": photo, "/b/photo.jpg": photo}
			writeFiles(t, v.Vault, twins)
			p := v.up.pack
			eventually(t, "both twins waiting in one pack", func() error {
				p.mu.Lock()
				defer p.mu.Unlock()
				if len(p.cur) != 2 {
					return fmt.Errorf("%d versions waiting to be packed", len(p.cur))
				}
				return nil
			})
			p.flush()
			eventually(t, "both twins published", func() error {
				if n := v.Stats().DirtyFiles; n != 0 {
					return fmt.Errorf("%d files not published", n)
				}
				return nil
			})
			a, err := v.lookupPath("/a/photo.jpg")
			ok(t, err)
			b, err := v.lookupPath("/b/photo.jpg")
			ok(t, err)
			if len(a.Extents) != 1 || len(b.Extents) != 1 || a.Extents[0] != b.Extents[0] {
				t.Fatalf("the twins' extents differ: %+v and %+v; want both naming the same bytes of one pack", a.Extents, b.Extents)
			}
			if e := a.Extents[0]; e.ObjectSize >= 2*uint32(len(photo)) {
				t.Errorf("the pack holds %d bytes for two copies of %d: want them once", e.ObjectSize, len(photo))
			}
			v.close(t)
			wantFiles(t, tv.readOnly(t).Vault, twins)
		})
	}
}
