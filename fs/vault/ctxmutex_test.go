package vault

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestCtxMutex: one holder at a time; a waiter gives up when its context
// ends, without taking the mutex; an Unlock hands it to a waiter; an
// Unlock of an unlocked mutex panics.
func TestCtxMutex(t *testing.T) {
	m := newCtxMutex()
	ok(t, m.lockCtx(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- m.lockCtx(ctx) }()
	cancel()
	select {
	case err := <-gaveUp:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("lockCtx of a held mutex after its context ended: %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute): // only when it does not give up
		t.Fatal("lockCtx of a held mutex still waits a minute after its context ended")
	}

	took := make(chan error, 1)
	go func() { took <- m.lockCtx(context.Background()) }()
	select {
	case <-took:
		t.Fatal("a waiter took a held mutex")
	default:
	}
	m.Unlock() // the waiter takes it now
	ok(t, <-took)
	m.Unlock()

	// Mutual exclusion under the race detector: a counter only the holder
	// touches.
	var wg sync.WaitGroup
	n := 0
	for range 8 {
		wg.Go(func() {
			for range 200 {
				m.Lock()
				n++
				m.Unlock()
			}
		})
	}
	wg.Wait()
	if n != 8*200 {
		t.Fatalf("counter %d, want %d", n, 8*200)
	}

	defer func() {
		if recover() == nil {
			t.Error("Unlock of an unlocked ctxMutex did not panic")
		}
	}()
	m.Unlock()
}

// TestFsyncGivesUpBehindStuckCommit: an fsync that waits for the commit
// lock, held by a commit that does not end (an outage), returns an error
// when its context ends instead of waiting without bound (FsyncTimeout
// ends it the same way), and the next fsync succeeds once the lock is
// free. Only the first fsync's context is short, so the second one's
// upload and commit have the harness's fsync timeout on a loaded machine.
func TestFsyncGivesUpBehindStuckCommit(t *testing.T) {
	forEachStore(t, func(t *testing.T, tv *testVault) {
		v := tv.open(t, func(o *Options) { o.CommitInterval = time.Hour })
		f, err := v.create("note.txt")
		ok(t, err)
		_, err = f.WriteAt(context.Background(), []byte("hello"), 0)
		ok(t, err)
		v.commitMu.Lock() // the stuck commit
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- f.Fsync(ctx) }()
		select {
		case err = <-done:
		case <-time.After(time.Minute): // only when the fsync does not give up
			v.commitMu.Unlock()
			t.Fatal("fsync behind a commit that never ends still waits a minute after its context ended")
		}
		v.commitMu.Unlock()
		if err == nil {
			t.Fatal("fsync behind a commit that never ends returned nil; want an error once its context ended")
		}
		ok(t, f.Fsync(context.Background())) // and succeeds once the lock is free
		f.Release()
	})
}
