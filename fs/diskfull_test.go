package fs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/remote/faults"
)

// TestCacheDiskFull: the cache directory's disk fills up while the mount
// is writing and uploads fail now and then, so that objects would be
// staged. The cache only stages sealed data on its way to the store, so
// the application is not failed: chunks are retried from memory instead
// (within the memory budget), fsync still commits, and everything written
// reads back exactly after a remount on another device. Nothing in the
// cache directory is left half-written or readable as plaintext.
func TestCacheDiskFull(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		cache := t.TempDir()
		if err := syscall.Mount("tmpfs", cache, "tmpfs", 0, "size=2m,mode=0700"); err != nil {
			t.Fatalf("mounting a small tmpfs for the cache directory (needs root): %v", err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(cache, syscall.MNT_DETACH) })
		var logs syncBuffer
		mt := v.mount(t, func(o *Options) {
			o.CacheDir = cache
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})

		// Fill the cache disk after the mount sized its stage budget.
		filler, err := os.Create(filepath.Join(cache, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		block := make([]byte, 64<<10)
		for {
			if _, err := filler.Write(block); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the cache disk: %v", err)
				}
				break
			}
		}
		filler.Close()
		// A failed upload from memory stages the object: make a few fail.
		store.Inject(faults.Put, faults.Fail(faults.ErrUnavailable).If(faults.KeyPrefix("data/")).Times(3))

		mark := marker(t, "disk full")
		want := map[string][]byte{}
		for i := range 12 {
			name := fmt.Sprintf("media/IMG-%02d.jpg", i)
			data := append([]byte(mark), pattern(byte(i), testChunk*2+i*1013)...)
			want[name] = data
		}
		ok(t, os.Mkdir(mt.path("media"), 0o755))
		for name, data := range want {
			f, err := os.Create(mt.path(name))
			ok(t, err)
			if _, err := f.Write(data); err != nil {
				t.Fatalf("write %s with the cache disk full: %v", name, err)
			}
			if err := f.Sync(); err != nil {
				t.Fatalf("fsync %s with the cache disk full: %v", name, err)
			}
			ok(t, f.Close())
		}
		mt.unmount(t)
		if err := os.Remove(filepath.Join(cache, "filler")); err != nil {
			t.Fatal(err)
		}
		assertNoPlaintext(t, [][]byte{[]byte(mark)}, []string{cache}, v.store)
		if !bytes.Contains(logs.Bytes(), []byte("cannot stage data on local disk")) {
			t.Errorf("the full cache disk was never hit (no staging failure logged); logs:\n%s", logs.Bytes())
		}

		mt2 := v.mount(t) // another device: nothing but the store
		for name, data := range want {
			got, err := os.ReadFile(mt2.path(name))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s after remount: %d bytes, %v; want %d bytes", name, len(got), err, len(data))
			}
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
