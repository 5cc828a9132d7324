package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/localstate"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

// deviceGuard is what a mount holds on this device and in the store besides
// the filesystem: the local state lock and file (rollback detection) and,
// for a read-write mount, the writer lease.
type deviceGuard struct {
	state  *localstate.State
	unlock func() error // localstate.Lock; nil for read-only mounts
	lease  *lease.Lease // nil for read-only mounts
	stop   context.CancelFunc
}

// guardMount runs the device checks of a mount in order, before anything is
// served: one read-write mount per cache directory (local lock), a store
// that honours conditional writes (provenStore; opts.Store becomes the
// store it returns), the writer lease (exit 11 while another device holds
// it), and rollback detection against this device's high-water mark. It
// fills in the vault.Options that depend on them.
func (a *app) guardMount(ctx context.Context, s remote.Store, u *unlocked, cacheDir string, o mountOptions, opts *vault.Options) (g *deviceGuard, err error) {
	g = &deviceGuard{}
	defer func() {
		if err != nil {
			_ = g.close(ctx, true) // nothing was written: let another device in at once
		}
	}()
	if !o.readOnly {
		if g.unlock, err = localstate.Lock(cacheDir); err != nil {
			if errors.Is(err, localstate.ErrLocked) {
				return g, withCode(exitLeaseHeld, err, "unmount it first, or mount read-only with --read-only")
			}
			return g, fmt.Errorf("locking the cache directory: %w", err)
		}
	}
	if g.state, err = deviceState(s, u, cacheDir); err != nil {
		return g, err
	}
	if !o.readOnly {
		if s, err = a.provenStore(ctx, s, o.singleDevice); err != nil {
			return g, err
		}
		opts.Store = s // in the If-Match form the self-test proved, or checking conditions itself
		opts.MountID = newMountID()
		g.lease, err = lease.Acquire(ctx, s, u.keys, lease.Options{
			Device:   o.device,
			MountID:  opts.MountID,
			Force:    o.force,
			Observer: g.state,
			Reclaim:  g.state.LastMount(),
			Logger:   a.logger,
		})
		var held *lease.HeldError
		if errors.As(err, &held) {
			return g, withCode(exitLeaseHeld, err, "")
		}
		if err != nil {
			return g, fmt.Errorf("taking the writer lease: %w", err)
		}
		if err := g.state.SetMount(opts.MountID); err != nil {
			return g, err
		}
	}
	// Every mount, read-only and following ones too, checks the head it
	// loads against this device's mark and raises the mark with each
	// commit it makes or follows.
	opts.CheckHead = headGuard(g.state, o.acceptRollback)
	opts.OnCommit = func(h meta.Head) {
		if err := g.state.Observe(h); err != nil {
			a.logger.Warn("cannot record the new commit in this device's state; rollback detection may miss it", "err", err)
		}
	}
	if !o.readOnly {
		opts.Lease = g.lease
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		g.stop = cancel
		go g.lease.Run(runCtx, func(err error) {
			fmt.Fprintf(a.stderr, "sealfs: error: %v: another device took over this vault; this mount no longer commits (changes made from now on are not saved)\n", err)
		})
	}
	return g, nil
}

// close releases the lease (only when nothing is left uncommitted: otherwise
// it expires, and this device reclaims it at once on the next mount) and the
// local lock.
func (g *deviceGuard) close(ctx context.Context, clean bool) error {
	var err error
	if g.stop != nil {
		g.stop()
	}
	if g.lease != nil && clean {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = g.lease.Release(rctx)
		cancel()
		if err != nil {
			err = fmt.Errorf("releasing the writer lease (another device can take over once it expires): %w", err)
		}
	}
	if g.unlock != nil {
		_ = g.unlock()
	}
	return err
}

func newMountID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
