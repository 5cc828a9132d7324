package fs

import (
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
