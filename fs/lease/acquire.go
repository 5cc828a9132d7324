package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// errConflict: a conditional write lost a race; read again and decide again.
var errConflict = errors.New("lease: conditional write lost a race")

// Acquire takes the vault's lease for a read-write mount, or explains who
// holds it. In order:
//
//   - no lease object: create it (create-only put);
//   - released by its last holder: take it at once (compare-and-swap);
//   - held by this MountID: keep it;
//   - held by Options.Reclaim (this device's earlier mount, known dead):
//     take it over at once;
//   - held by another mount: with Options.Force take it over; if this
//     device has seen the same lease version unchanged for the holder's
//     whole TTL (see Observer), the holder stopped renewing: take it over;
//     otherwise return a *HeldError (or, with Options.Wait, poll).
//
// A conditional write that loses a race re-reads and decides again, a
// bounded number of times. A lease object that fails authentication is a
// *CorruptError, never a free lease (Force replaces it).
func Acquire(ctx context.Context, store remote.Store, keys *crypt.Keys, opts Options) (*Lease, error) {
	if opts.Device == "" || opts.MountID == "" {
		return nil, errors.New("lease: internal error: Options.Device and Options.MountID must be set")
	}
	a := &acquirer{store: store, keys: keys, o: opts.withDefaults()}
	conflicts := 0
	for {
		l, wait, err := a.try(ctx)
		switch {
		case l != nil:
			return l, nil
		case errors.Is(err, errConflict):
			if conflicts++; conflicts >= maxConflicts {
				return nil, fmt.Errorf("lease: gave up after %d conflicting writes by other devices", conflicts)
			}
		case err != nil:
			return nil, err
		default:
			a.o.Sleep(wait, ctx.Done())
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("lease: waiting for the lease: %w", err)
			}
		}
	}
}

type acquirer struct {
	store remote.Store
	keys  *crypt.Keys
	o     Options
}

// try makes one decision: a lease, or a time to wait (Options.Wait), or an
// error (errConflict to try again).
func (a *acquirer) try(ctx context.Context) (*Lease, time.Duration, error) {
	cur, etag, err := get(ctx, a.store, a.keys)
	var corrupt *CorruptError
	switch {
	case errors.As(err, &corrupt) && a.o.Force:
		a.o.Logger.Warn("lease: replacing an unreadable lease object (--force)", slog.Any("error", err))
		// Epochs are not a security fence (a hostile store can always
		// delete the lease); the head compare-and-swap is. So restart at 1.
		return a.take(ctx, etag, 1)
	case err != nil:
		return nil, 0, err
	case cur == nil:
		return a.take(ctx, "", 1)
	case cur.State == StateReleased:
		return a.take(ctx, etag, cur.Epoch+1)
	case cur.MountID == a.o.MountID:
		return a.adopt(ctx, cur, etag)
	case a.o.Reclaim != "" && cur.MountID == a.o.Reclaim:
		a.o.Logger.Info("lease: reclaiming the lease of this device's previous mount, which is no longer running",
			slog.String("mount", cur.MountID))
		return a.take(ctx, etag, cur.Epoch+1)
	case a.o.Force:
		a.o.Logger.Warn("lease: taking over the lease by force", slog.String("holder", cur.Device),
			slog.Time("since", cur.Acquired))
		return a.take(ctx, etag, cur.Epoch+1)
	}
	return a.contend(ctx, cur, etag)
}

// contend decides about a lease another mount holds.
func (a *acquirer) contend(ctx context.Context, cur *record, etag string) (*Lease, time.Duration, error) {
	version := fmt.Sprintf("%d.%d.%s", cur.Epoch, cur.Counter, etag)
	now := a.o.Now()
	first, ok := a.o.Observer.Seen(version)
	if !ok || first.After(now) { // first sighting, or this clock went back
		first = now
		if err := a.o.Observer.Record(version, now); err != nil {
			a.o.Logger.Warn("lease: cannot remember the lease observation", slog.Any("error", err))
		}
	}
	if age := now.Sub(first); age >= cur.TTL {
		a.o.Logger.Warn("lease: taking over a stale lease (its holder stopped renewing)",
			slog.String("holder", cur.Device), slog.Duration("unchanged_for", age))
		return a.take(ctx, etag, cur.Epoch+1)
	}
	held := &HeldError{
		Device: cur.Device, MountID: cur.MountID, Since: cur.Acquired, LastRenewed: cur.Renewed,
		TTL: cur.TTL, RetryAfter: cur.TTL - now.Sub(first), SameDevice: cur.Device == a.o.Device,
	}
	if !a.o.Wait {
		return nil, 0, held
	}
	a.o.Logger.Info("lease: waiting for the lease", slog.String("holder", cur.Device),
		slog.Duration("at_most", held.RetryAfter))
	return nil, min(held.RetryAfter, max(cur.TTL/6, 10*time.Millisecond), 5*time.Second), nil
}

// take writes a fresh held record of the given epoch: create-only when
// etag is empty, else a compare-and-swap on etag.
func (a *acquirer) take(ctx context.Context, etag string, epoch uint64) (*Lease, time.Duration, error) {
	if epoch == 0 || epoch == math.MaxUint64 {
		epoch = 1
	}
	now := a.o.Now()
	rec := record{
		State: StateHeld, Epoch: epoch, TTL: a.o.TTL, Acquired: now, Renewed: now,
		Device: a.o.Device, MountID: a.o.MountID,
	}
	sealed, err := seal(a.o.Rand, a.keys, &rec)
	if err != nil {
		return nil, 0, err
	}
	newTag, err := a.store.Put(ctx, Key, sealed, putOptions(etag))
	if errors.Is(err, remote.ErrPrecondition) {
		return nil, 0, errConflict
	}
	if err != nil {
		return nil, 0, fmt.Errorf("lease: take: %w", err)
	}
	return newLease(a, rec, newTag, now), 0, nil
}

// adopt keeps a lease this mount already holds (a write that landed though
// its reply was lost) and renews it, which proves it is still ours.
func (a *acquirer) adopt(ctx context.Context, cur *record, etag string) (*Lease, time.Duration, error) {
	l := newLease(a, *cur, etag, time.Time{})
	if err := l.Renew(ctx); err != nil {
		if errors.Is(err, ErrLost) {
			return nil, 0, errConflict
		}
		return nil, 0, err
	}
	return l, 0, nil
}

func putOptions(etag string) remote.PutOptions {
	if etag == "" {
		return remote.PutOptions{IfNoneMatch: true}
	}
	return remote.PutOptions{IfMatch: etag}
}

// get reads the lease object: (nil, "", nil) if there is none.
func get(ctx context.Context, store remote.Store, keys *crypt.Keys) (*record, string, error) {
	sealed, info, err := store.Get(ctx, Key)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("lease: read: %w", err)
	}
	r, err := open(keys, store.String(), sealed)
	return r, info.ETag, err
}
