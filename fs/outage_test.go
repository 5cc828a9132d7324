package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// outageDuration is the length of the full outages below; set
// SEALFS_OUTAGE=30s for the long run the reliability checklist asks for.
func outageDuration(t *testing.T) time.Duration {
	if s := os.Getenv("SEALFS_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		ok(t, err)
		return d
	}
	return 3 * time.Second
}

// TestOutageWritesContinue: with the store completely down, writes of
// more than the memory budget are accepted (staged, sealed, on local
// disk), read back correctly, fsync fails with EIO after FsyncTimeout
// instead of hanging, and once the store is back everything is uploaded
// and committed.
func TestOutageWritesContinue(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		cache := t.TempDir()
		mt := v.mountCache(t, store, cache, func(o *Options) {
			o.MemoryBudget = 1 // the minimum: four chunks / MiB
			o.FsyncTimeout = time.Second
		})
		limit := mt.m.Vault().Stats().MemoryLimit
		outage(store)
		files := map[string][]byte{}
		for i := range 6 {
			files[fmt.Sprintf("dir/f%d", i)] = pattern(byte(60+i), int(limit/2)+i*1000+7)
		}
		small := marker(t, "name")
		files[small] = []byte(marker(t, "content"))
		if !writeFilesWithin(t, mt.dir, files, 2*time.Minute, func() { store.Clear() }) {
			t.Fatal("writes blocked during the outage although the stage has room")
		}
		if n := stagedObjects(t, cache); n == 0 {
			t.Errorf("nothing staged on local disk during the outage")
		}
		wantFiles(t, mt.dir, files)
		// The staging area holds ciphertext only (scan it now, while full).
		assertNoPlaintext(t, [][]byte{[]byte(marker(t, "content")), []byte(small)}, []string{cache}, store.Store)

		f, err := os.OpenFile(mt.path(small), os.O_RDWR, 0)
		ok(t, err)
		defer f.Close()
		start := time.Now()
		mustErrno(t, f.Sync(), syscall.EIO)
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("fsync took %v with a 1s FsyncTimeout", d)
		}
		ok(t, f.Close())
		if !hasIntent(cache) {
			t.Errorf("no intent log after a failed commit")
		}

		store.Clear()
		ok(t, mt.m.Sync(context.Background()))
		if n := stagedObjects(t, cache); n != 0 {
			t.Errorf("%d objects still staged after a successful commit", n)
		}
		if hasIntent(cache) {
			t.Errorf("intent log left after everything was committed")
		}
		ro := v.mountCache(t, store, t.TempDir(), func(o *Options) { o.ReadOnly = true })
		wantFiles(t, ro.dir, files)
		ok(t, mt.m.Unmount())
		assertNoPlaintext(t, [][]byte{[]byte(marker(t, "content")), []byte(small)}, []string{cache}, store)
	})
}

// TestOutageBursts: 500/503 bursts, connection resets, lost responses and
// slow responses: every write is committed, fsync succeeds within its
// (generous) timeout, and unmount commits the rest.
func TestOutageBursts(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		cache := t.TempDir()
		mt := v.mountCache(t, store, cache, func(o *Options) { o.FsyncTimeout = time.Minute })
		store.Inject(faults.Any, faults.Delay(15*time.Millisecond))
		store.Inject(faults.Put, faults.Fail(faults.ErrServer).Times(6))
		store.Inject(faults.Put, faults.Fail(faults.ErrReset).If(func(c faults.Call) bool { return c.N%5 == 0 }).Times(8))
		store.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).If(func(c faults.Call) bool { return c.N%7 == 0 }).Times(4))
		store.Inject(faults.Put, faults.Fail(faults.ErrUnavailable).If(faults.KeyPrefix("data/")).Times(10))
		store.Inject(faults.GetRange, faults.Fail(faults.ErrUnavailable).Times(3))
		files := map[string][]byte{}
		for i := range 12 {
			name := fmt.Sprintf("f%02d", i)
			files[name] = pattern(byte(i), i*testChunk/3+11)
			writeFiles(t, mt.dir, map[string][]byte{name: files[name]})
			if i%3 == 0 {
				f, err := os.OpenFile(mt.path(name), os.O_RDWR, 0)
				ok(t, err)
				err = f.Sync()
				f.Close()
				ok(t, err)
			}
		}
		ok(t, mt.m.Unmount())
		store.Clear()
		if n := stagedObjects(t, cache); n != 0 || hasIntent(cache) {
			t.Errorf("after a clean unmount: %d staged objects, intent %v", n, hasIntent(cache))
		}
		ro := v.mountCache(t, store, t.TempDir(), func(o *Options) { o.ReadOnly = true })
		wantFiles(t, ro.dir, files)
	})
}

// TestUnmountWaitsOutOutage: unmount during a full outage waits, reports
// progress, and commits everything once the store is back.
func TestUnmountWaitsOutOutage(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		testUnmountWaits(t, v, store, func(down bool) {
			if down {
				outage(store)
			} else {
				store.Clear()
			}
		})
	})
}

// TestUnmountWaitsOutMinIOOutage is the same against MinIO with its network
// cut by a proxy (connections reset, then refused), not injected errors.
func TestUnmountWaitsOutMinIOOutage(t *testing.T) {
	store, p := minioBehindProxy(t)
	v := newVault(t, store, testChunk)
	testUnmountWaits(t, v, store, p.SetDown)
}

func testUnmountWaits(t *testing.T, v *testVault, store remote.Store, setDown func(bool)) {
	cache := t.TempDir()
	d := outageDuration(t)
	mt := v.mountCache(t, store, cache, func(o *Options) { o.OutageTimeout = d + time.Minute })
	setDown(true)
	files := map[string][]byte{}
	for i := range 5 {
		files[fmt.Sprintf("f%d", i)] = pattern(byte(90+i), 2*testChunk+i)
	}
	writeFiles(t, mt.dir, files)
	unmounted := make(chan error, 1)
	go func() { unmounted <- mt.m.Unmount() }()
	// The unmount has begun and reports what it still has to upload.
	eventually(t, "unmount reports partial progress", func() error {
		if done, total := mt.m.Progress(); total == 0 || done >= total {
			return fmt.Errorf("progress %d/%d", done, total)
		}
		return nil
	})
	select {
	case err := <-unmounted:
		t.Fatalf("unmount returned during the outage: %v", err)
	case <-time.After(d): // the outage goes on for d
	}
	setDown(false)
	if err := <-unmounted; err != nil {
		t.Fatalf("Unmount after a %v outage: %v", d, err)
	}
	if done, total := mt.m.Progress(); done != total || total == 0 {
		t.Errorf("progress: %d/%d at the end", done, total)
	}
	if n := stagedObjects(t, cache); n != 0 || hasIntent(cache) {
		t.Errorf("after the unmount: %d staged objects, intent %v", n, hasIntent(cache))
	}
	ro := v.mountCache(t, store, t.TempDir(), func(o *Options) { o.ReadOnly = true })
	wantFiles(t, ro.dir, files)
}

// TestUnmountLeavesStaged: if the store stays down, unmount gives up after
// OutageTimeout with vault.ErrStaged, the data stays sealed on local disk, and
// the next mount on the device uploads and commits it.
func TestUnmountLeavesStaged(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		cache := t.TempDir()
		opt := func(o *Options) { o.OutageTimeout = time.Second; o.FsyncTimeout = 5 * time.Second }
		mt := v.mountCache(t, store, cache, opt)
		writeFiles(t, mt.dir, map[string][]byte{"old": []byte("old"), "gone": []byte("gone")})
		ok(t, mt.m.Sync(context.Background()))
		outage(store)
		files := map[string][]byte{"a/b/new": pattern(1, 3*testChunk+1), "small": []byte("x")}
		writeFiles(t, mt.dir, files)
		ok(t, os.Rename(mt.path("old"), mt.path("a/renamed")))
		ok(t, os.Remove(mt.path("gone")))
		files["a/renamed"] = []byte("old")
		err := mt.m.Unmount()
		if !errors.Is(err, vault.ErrStaged) {
			t.Fatalf("Unmount with the store down: %v, want vault.ErrStaged", err)
		}
		t.Logf("unmount: %v", err)
		if stagedObjects(t, cache) == 0 || !hasIntent(cache) {
			t.Fatalf("nothing staged after a failed unmount")
		}
		store.Clear()
		again := v.mountCache(t, store, cache, opt)
		if r := again.m.Vault().Recovered(); r == nil || !r.Replayed {
			t.Errorf("Recovered() = %+v, want a replay", r)
		}
		wantFiles(t, again.dir, files)
		for _, name := range []string{"old", "gone"} {
			if _, err := os.Stat(again.path(name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %v, want it gone (renamed/removed before the outage ended)", name, err)
			}
		}
		ok(t, again.m.Unmount())
		if n := stagedObjects(t, cache); n != 0 || hasIntent(cache) {
			t.Errorf("after the recovery: %d staged objects, intent %v", n, hasIntent(cache))
		}
		ro := v.mountCache(t, store, t.TempDir(), func(o *Options) { o.ReadOnly = true })
		wantFiles(t, ro.dir, files)
	})
}

// TestStageBudget: during an outage writes are accepted up to the stage
// budget plus the memory budget, then the writer waits (backpressure, no
// error and no unbounded growth); when the store is back it goes on and
// everything is committed intact.
func TestStageBudget(t *testing.T) {
	store := faults.New(remote.NewMemory())
	v := newVault(t, store, testChunk)
	cache := t.TempDir()
	const stageBudget = 4 * testChunk
	mt := v.mountCache(t, store, cache, func(o *Options) { o.MemoryBudget = 1; o.StageBudget = stageBudget })
	fsys := mt.m.Vault()
	outage(store)
	data := pattern(77, int(2*fsys.Stats().MemoryLimit+2*stageBudget))
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(mt.path("big"), data, 0o644) }()
	// Wait until the stage is full, memory too, and the writer waits for
	// memory: then it cannot finish while the store is down.
	eventually(t, "both budgets used and the writer waiting", func() error {
		select {
		case err := <-done:
			t.Fatalf("a write of more than both budgets finished during the outage: %v", err)
		default:
		}
		staged := fsys.Stats().StagedBytes
		if w := fsys.Stats().PackWaiters; w == 0 || staged+fsys.ChunkSize() < stageBudget || fsys.Stats().MemoryInUse < fsys.Stats().MemoryLimit-fsys.ChunkSize() {
			return fmt.Errorf("%d writers wait, %d bytes staged, %d in memory", w, staged, fsys.Stats().MemoryInUse)
		}
		return nil
	})
	if staged := fsys.Stats().StagedBytes; staged > stageBudget {
		t.Errorf("%d bytes staged, budget %d", staged, stageBudget)
	}
	if peak := fsys.Stats().MemoryPeak; peak > fsys.Stats().MemoryLimit {
		t.Errorf("memory peaked at %d bytes, budget %d", peak, fsys.Stats().MemoryLimit)
	}
	store.Clear()
	ok(t, <-done)
	ok(t, mt.m.Sync(context.Background()))
	wantContent(t, mt.path("big"), data)
	ok(t, mt.m.Unmount())
	ro := v.mountCache(t, store, t.TempDir(), func(o *Options) { o.ReadOnly = true })
	wantContent(t, ro.path("big"), data)
}

// fakeLease is a writer lease whose Check result the test sets.
type fakeLease struct{ err atomic.Pointer[error] }

func (l *fakeLease) Check() error {
	if p := l.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *fakeLease) set(err error) { l.err.Store(&err) }

// TestLeaseExpiresInOutage: an outage longer than the lease TTL makes the
// lease unconfirmed (lease.ErrExpired), which defers commits but does not
// fence the mount: writes go on, and once the lease is confirmed again
// everything is committed. A lease that is lost (taken over) does fence.
func TestLeaseExpiresInOutage(t *testing.T) {
	store := faults.New(remote.NewMemory())
	v := newVault(t, store, testChunk)
	l := &fakeLease{}
	mt := v.mountCache(t, store, t.TempDir(), func(o *Options) { o.Lease = l; o.FsyncTimeout = time.Second })
	outage(store)
	l.set(fmt.Errorf("renewal: %w", lease.ErrExpired))
	files := map[string][]byte{"during": pattern(5, testChunk+5)}
	writeFiles(t, mt.dir, files)
	eventually(t, "periodic commits deferred", func() error {
		if n := mt.m.Vault().Stats().CommitsDeferred; n < 2 {
			return fmt.Errorf("%d commits deferred", n)
		}
		return nil
	})
	files["later"] = []byte("still writable")
	writeFiles(t, mt.dir, files)
	store.Clear()
	l.set(nil)
	ok(t, mt.m.Sync(context.Background()))
	ro := v.mountCache(t, store, t.TempDir(), func(o *Options) { o.ReadOnly = true })
	wantFiles(t, ro.dir, files)

	l.set(lease.ErrLost)
	writeFiles(t, mt.dir, map[string][]byte{"lost": []byte("x")})
	if err := mt.m.Sync(context.Background()); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("Sync with the lease lost: %v", err)
	}
	mustErrno(t, os.WriteFile(mt.path("after"), nil, 0o644), syscall.EROFS)
	if err := mt.m.Unmount(); !errors.Is(err, vault.ErrStaged) {
		t.Errorf("Unmount after losing the lease: %v, want vault.ErrStaged", err)
	}
}
