package fs

import (
	"bytes"
	"os"
	"testing"

	"github.com/sealfs/sealfs/remote/faults"
)

// TestRewriteKeepsCleanChunk: a database-like file rewritten in place and
// fsynced again and again downloads its chunk at most once, not once per
// fsync (each upload keeps its plaintext for the next partial write), and
// every version reads back exactly on another device.
func TestRewriteKeepsCleanChunk(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		mt := v.mount(t)
		data := pattern(5, testChunk+testChunk/2)
		f, err := os.Create(mt.path("msgstore.db"))
		ok(t, err)
		defer f.Close()
		_, err = f.Write(data)
		ok(t, err)
		ok(t, f.Sync())
		before := store.Calls(faults.GetRange) + store.Calls(faults.Get)
		const txns = 12
		for i := range txns {
			page := pattern(byte(100+i), 4096)
			off := int64(i%3) * 8192
			_, err := f.WriteAt(page, off)
			ok(t, err)
			copy(data[off:], page)
			ok(t, f.Sync())
		}
		gets := store.Calls(faults.GetRange) + store.Calls(faults.Get) - before
		if gets > 3 {
			t.Errorf("%d fsynced in-place rewrites downloaded %d times; want the rewritten chunk kept, not fetched back each time", txns, gets)
		}
		ok(t, f.Close())
		wantContent(t, v.readOnly(t).path("msgstore.db"), data)
	})
}

// TestReadAfterRewriteIsLocal: reading back pages of a chunk this mount
// just rewrote and uploaded (SQLite reads page 1 at every transaction)
// does not download the object again.
func TestReadAfterRewriteIsLocal(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		mt := v.mount(t)
		data := pattern(6, testChunk/2)
		f, err := os.Create(mt.path("db"))
		ok(t, err)
		defer f.Close()
		_, err = f.Write(data)
		ok(t, err)
		ok(t, f.Sync())
		_, err = f.WriteAt([]byte("page two"), 4096) // a rewrite of the published chunk
		ok(t, err)
		copy(data[4096:], "page two")
		ok(t, f.Sync())
		before := store.Calls(faults.GetRange) + store.Calls(faults.Get)
		for i := range 5 {
			buf := make([]byte, 4096)
			// O_DIRECT is not needed: each fsync's new size/mtime drops
			// the kernel's pages; read through a fresh descriptor.
			g, err := os.Open(mt.path("db"))
			ok(t, err)
			_, err = g.ReadAt(buf, int64(i)*4096)
			g.Close()
			ok(t, err)
			if !bytes.Equal(buf, data[i*4096:(i+1)*4096]) {
				t.Fatalf("page %d reads wrong after the rewrite", i)
			}
		}
		if gets := store.Calls(faults.GetRange) + store.Calls(faults.Get) - before; gets != 0 {
			t.Errorf("reading the just-rewritten chunk downloaded %d times; want it served from memory", gets)
		}
	})
}
