package fs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// TestFsyncFailsWhenStoreIsDown: fsync returns EIO within FsyncTimeout
// when data cannot be stored, and the data is published once the store is
// back.
func TestFsyncFailsWhenStoreIsDown(t *testing.T) {
	store := faults.New(remote.NewMemory())
	v := newVault(t, store, testChunk)
	mt := v.mount(t, func(o *Options) { o.FsyncTimeout = time.Second })
	store.Inject(faults.Put, faults.Fail(faults.ErrUnavailable).If(faults.KeyPrefix("data/")))
	data := pattern(40, testChunk+1)
	f, err := os.Create(mt.path("f"))
	ok(t, err)
	_, err = f.Write(data)
	ok(t, err)
	start := time.Now()
	mustErrno(t, f.Sync(), syscall.EIO)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("fsync took %v with a 1s timeout", d)
	}
	store.Clear()
	ok(t, f.Sync())
	ok(t, f.Close())
	ro := v.readOnly(t)
	wantContent(t, ro.path("f"), data)
}

// TestMemoryBudget: with a slow store, writers wait for uploads instead of
// holding more dirty data than the budget, and the data is intact.
func TestMemoryBudget(t *testing.T) {
	store := faults.New(remote.NewMemory())
	store.Inject(faults.Put, faults.Delay(20*time.Millisecond).If(faults.KeyPrefix("data/")))
	v := newVault(t, store, testChunk)
	mt := v.mount(t, func(o *Options) { o.MemoryBudget = 1; o.Uploads = 2 })
	limit := mt.m.Vault().Stats().MemoryLimit
	data := pattern(41, int(3*limit)+12345)
	ok(t, os.WriteFile(mt.path("big"), data, 0o644))
	if peak := mt.m.Vault().Stats().MemoryPeak; peak > limit {
		t.Errorf("dirty data peaked at %d bytes, budget %d", peak, limit)
	}
	wantContent(t, mt.path("big"), data)
}

// TestUnmountBusy: unmount is refused while a file is open, then works.
func TestUnmountBusy(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	mt := v.mount(t)
	f, err := os.Create(mt.path("open"))
	ok(t, err)
	if err := mt.m.Unmount(); !errors.Is(err, ErrBusy) || !errors.Is(err, syscall.EBUSY) || !strings.Contains(err.Error(), "mount is busy") {
		t.Errorf("unmount with an open file: %v, want %q", err, "mount is busy")
	}
	ok(t, f.Close())
	ok(t, mt.m.Unmount())
}

// TestMountpointChecks: the mountpoint must exist, be a directory and be
// empty.
func TestMountpointChecks(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	dir := t.TempDir()
	ok(t, os.WriteFile(filepath.Join(dir, "x"), nil, 0o644))
	cases := map[string]string{
		"missing":       filepath.Join(dir, "nope"),
		"not directory": filepath.Join(dir, "x"),
		"not empty":     dir,
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := Mount(context.Background(), p, Options{Store: v.store, Keys: v.keys})
			if err == nil {
				m.Unmount()
				t.Fatalf("mounted at %s", p)
			}
		})
	}
}

// TestTruncateDuringPublish: a file truncated down and up again while its
// previous version is still being uploaded reads zeros past the cut at
// every moment: before, during and after both publishes.
func TestTruncateDuringPublish(t *testing.T) {
	store := faults.New(remote.NewMemory())
	gate := faults.NewGate()
	defer gate.Open()
	store.Inject(faults.Put, faults.Wait(gate).If(faults.KeyPrefix("data/")))
	v := newVault(t, store, testChunk)
	mt := v.mount(t, func(o *Options) { o.Tuning.StageAfter = time.Hour })
	data := pattern(42, 2*testChunk+99)
	ok(t, os.WriteFile(mt.path("f"), data, 0o644)) // publish starts
	<-gate.Arrived()                               // its uploads are held
	ok(t, os.Truncate(mt.path("f"), testChunk/2+3))
	ok(t, os.Truncate(mt.path("f"), 3*testChunk))
	want := make([]byte, 3*testChunk)
	copy(want, data[:testChunk/2+3])
	wantContent(t, mt.path("f"), want) // both publishes pending
	// Let the uploads through and read all the while the publishes land.
	synced := make(chan error, 1)
	go func() { synced <- mt.m.Sync(context.Background()) }()
	gate.Open()
	for reading := true; reading; {
		select {
		case err := <-synced:
			ok(t, err)
			reading = false
		default:
		}
		wantContent(t, mt.path("f"), want)
	}
	wantContent(t, mt.path("f"), want)
	ro := v.readOnly(t)
	wantContent(t, ro.path("f"), want)
}
