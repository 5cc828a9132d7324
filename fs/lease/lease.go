package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// Lease is this mount's hold on the vault. Its methods are safe for
// concurrent use.
type Lease struct {
	store remote.Store
	keys  *crypt.Keys
	o     Options

	stop     chan struct{} // closed by Release: stops Run
	stopOnce sync.Once

	mu       sync.Mutex
	rec      record
	etag     string
	sent     time.Time // this device's clock when the last confirmed write was sent
	lost     error     // sticky ErrLost
	released bool
}

func newLease(a *acquirer, rec record, etag string, sent time.Time) *Lease {
	return &Lease{store: a.store, keys: a.keys, o: a.o, stop: make(chan struct{}), rec: rec, etag: etag, sent: sent}
}

// Epoch is the lease's epoch: it grows by one each time the lease changes
// hands (while the lease object is not deleted).
func (l *Lease) Epoch() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.Epoch
}

// TTL is the lease's time to live.
func (l *Lease) TTL() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.TTL
}

// Check reports whether this mount may commit now: nil while the lease was
// confirmed less than 90% of its TTL ago by this device's clock (so no
// contender, who waits a whole TTL after seeing the last renewal, can
// have taken it over yet), ErrExpired after that until a renewal
// succeeds, ErrLost once another device took it, ErrReleased after
// Release. Call it before each head compare-and-swap.
func (l *Lease) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.lost != nil:
		return l.lost
	case l.released:
		return ErrReleased
	}
	if age := l.o.Now().Sub(l.sent); age >= l.rec.TTL-l.rec.TTL/10 {
		return fmt.Errorf("%w: last confirmed %s ago (TTL %s); is the store reachable?", ErrExpired, age.Round(time.Millisecond), l.rec.TTL)
	}
	return nil
}

// Renew extends the lease with a compare-and-swap. It returns an error
// matching ErrLost if another device took the lease over (the caller must
// stop committing), ErrReleased after Release, or a store error (transient:
// try again).
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return ErrReleased
	}
	return l.write(ctx, "renew", func(r *record) { r.Counter++; r.Renewed = l.o.Now() })
}

// Release marks the lease released with a compare-and-swap, so the next
// device takes it at once, and stops Run. Releasing twice is not an error;
// releasing a lost lease returns the ErrLost error.
func (l *Lease) Release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	err := l.write(ctx, "release", func(r *record) { r.State = StateReleased; r.Counter++; r.Renewed = l.o.Now() })
	if err == nil {
		l.released = true
	}
	return err
}

// write replaces the lease object with a change of the current record,
// compare-and-swap on the last known ETag. If the swap is refused, it reads
// the lease: still this mount's (an earlier write landed though its reply
// was lost, or a cancelled one landed late) → it applies the change on top
// of that; anything else → ErrLost, sticky. l.mu is held.
func (l *Lease) write(ctx context.Context, op string, change func(*record)) error {
	if l.lost != nil {
		return l.lost
	}
	for range maxConflicts {
		next := l.rec
		change(&next)
		sealed, err := seal(l.o.Rand, l.keys, &next)
		if err != nil {
			return err
		}
		sent := l.o.Now()
		etag, err := l.store.Put(ctx, Key, sealed, remote.PutOptions{IfMatch: l.etag})
		if err == nil {
			l.rec, l.etag, l.sent = next, etag, sent
			return nil
		}
		if !errors.Is(err, remote.ErrPrecondition) {
			return fmt.Errorf("lease: %s: %w", op, err)
		}
		cur, curTag, err := get(ctx, l.store, l.keys)
		var corrupt *CorruptError
		if err != nil && !errors.As(err, &corrupt) {
			return fmt.Errorf("lease: %s: %w", op, err)
		}
		ours := err == nil && cur != nil && cur.MountID == l.rec.MountID && cur.Epoch == l.rec.Epoch
		if ours && cur.State == StateReleased { // a cancelled release landed
			l.rec, l.etag, l.released = *cur, curTag, true
			if next.State == StateReleased {
				return nil
			}
			return ErrReleased
		}
		if !ours {
			l.lost = lostError(cur, err)
			l.o.Logger.Error("lease: lost to another device", slog.Any("error", l.lost))
			return l.lost
		}
		l.rec, l.etag = *cur, curTag
	}
	return fmt.Errorf("lease: %s: gave up after %d conflicting writes", op, maxConflicts)
}

// Run renews the lease every TTL/3 until ctx is done or Release is called.
// Failed renewals are logged and retried sooner; if the lease is lost, Run
// calls onLost (if not nil) once with the ErrLost error and returns. Call
// Run at most once, typically in its own goroutine.
func (l *Lease) Run(ctx context.Context, onLost func(error)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	every := l.TTL() / 3
	wait := every
	for {
		l.o.Sleep(wait, ctx.Done())
		if ctx.Err() != nil {
			return
		}
		rctx, rcancel := context.WithTimeout(ctx, every)
		err := l.Renew(rctx)
		rcancel()
		switch {
		case err == nil:
			wait = every
		case errors.Is(err, ErrLost):
			if onLost != nil {
				onLost(err)
			}
			return
		case errors.Is(err, ErrReleased) || ctx.Err() != nil:
			return
		default:
			l.o.Logger.Warn("lease: renewal failed, retrying", slog.Any("error", err))
			wait = max(every/4, time.Millisecond)
		}
	}
}
