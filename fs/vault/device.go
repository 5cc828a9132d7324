package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/localstate"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// DefaultCacheDir is the vault's local directory on this device when none
// is chosen: $XDG_CACHE_HOME/sealfs/<16 hex> (~/.cache without it), keyed
// by the store's address so that two vaults never share one. It only ever
// holds ciphertext (staged objects, sealed state).
func DefaultCacheDir(s remote.Store) (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("vault: no cache directory: set one (--cache-dir) or HOME: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	sum := sha256.Sum256([]byte(s.String()))
	return filepath.Join(base, "sealfs", hex.EncodeToString(sum[:8])), nil
}

// State opens this device's sealed state of the vault (the high-water mark
// of the commits it has seen) in cacheDir, or in DefaultCacheDir.
func State(s remote.Store, u *Unlocked, cacheDir string) (*localstate.State, error) {
	if cacheDir == "" {
		var err error
		if cacheDir, err = DefaultCacheDir(s); err != nil {
			return nil, err
		}
	}
	st, err := localstate.Open(cacheDir, u.Keys.Local)
	if err != nil {
		return nil, fmt.Errorf("vault: this device's state for the vault: %w", err)
	}
	return st, nil
}

// HeadGuard is the rollback check of everything that loads the vault's
// head (a mount, check, prune, info, an offline snapshot), given to the
// loader so that it checks exactly the head it loads (meta.LogOptions,
// Options, history.Options CheckHead): a head older than, or forking from,
// a commit this device has already seen is refused
// (*localstate.RollbackError, matching meta.ErrRollback); any other head
// raises the device's mark. With accept (the user restored the store on
// purpose) the head becomes the mark even if it is older.
func HeadGuard(st *localstate.State, accept bool) func(meta.Head) error {
	return func(h meta.Head) error {
		if accept {
			return st.Accept(h)
		}
		if err := st.CheckRollback(h); err != nil {
			return err
		}
		return st.Observe(h)
	}
}

// ProveStore runs the store's conditional-write self-test
// (remote.SelfTestConditional) before anything writes to it conditionally
// (a read-write mount's head and lease, the lease of an offline snapshot
// or prune, vault.json for passwd), and returns the store to write
// through: for S3 set to the If-Match form the test proved. A store
// without working conditional writes is refused (remote
// ErrNoConditionalWrites) unless singleDevice: then the returned store
// checks the conditions itself (remote.SingleWriter), which holds only
// while no other device writes, and emulated reports it.
func ProveStore(ctx context.Context, s remote.Store, singleDevice bool) (proven remote.Store, emulated bool, err error) {
	err = remote.SelfTestConditional(ctx, s)
	switch {
	case err == nil:
		return s, false, nil
	case errors.Is(err, remote.ErrNoConditionalWrites) && singleDevice:
		// The condition checks go under the retry wrapper, so that the
		// retry stays the outermost layer (Open adds one otherwise).
		if r, ok := s.(*remote.Retry); ok {
			return remote.WithRetry(remote.WithSingleWriter(r.Store), r.Options()), true, nil
		}
		return remote.WithSingleWriter(s), true, nil
	case errors.Is(err, remote.ErrNoConditionalWrites):
		return nil, false, err
	}
	return nil, false, fmt.Errorf("vault: checking the store's conditional writes: %w", err)
}

// DeviceOptions are this device's side of opening a vault.
type DeviceOptions struct {
	// CacheDir is the vault's local directory ("": DefaultCacheDir).
	CacheDir string
	// Device names this device in commits and in the lease.
	Device   string
	ReadOnly bool
	// Force takes the writer lease even if another device holds it.
	Force bool
	// AcceptRollback accepts a head older than one this device has seen.
	AcceptRollback bool
	// SingleDevice writes to a store without working conditional writes.
	SingleDevice bool
	// OnLeaseLost is called (once) when another device takes the writer
	// lease over while the vault is open: it no longer commits.
	OnLeaseLost func(error)
	Logger      *slog.Logger // nil: discard
}

// Device is what an open vault holds on this device and in the store
// besides the tree: the local lock and state (rollback detection) and,
// for a read-write open, the proven store and the writer lease.
type Device struct {
	// State is this device's sealed state of the vault.
	State *localstate.State
	// Store is the store to open the vault in: for a read-write open, the
	// one ProveStore returned.
	Store remote.Store
	// EmulatedConditions is true when the store does not honour
	// conditional writes and single-device mode checks them instead.
	EmulatedConditions bool
	// CacheDir is the vault's local directory on this device.
	CacheDir string

	o       DeviceOptions
	mountID string
	unlock  func() error // localstate.Lock; nil for read-only opens
	lease   *lease.Lease // nil for read-only opens
	stop    context.CancelFunc
}

// OpenDevice runs this device's checks before a vault is opened, in this
// order: one read-write open per cache directory (localstate.Lock, else
// localstate.ErrLocked), a store that honours conditional writes
// (ProveStore), the writer lease (*lease.HeldError while another device
// holds it), and the rollback check armed for the head the open loads.
// Pass the result's Options to Open; Close it after the vault closed.
func OpenDevice(ctx context.Context, s remote.Store, u *Unlocked, o DeviceOptions) (d *Device, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d = &Device{Store: s, CacheDir: o.CacheDir, o: o}
	defer func() {
		if err != nil {
			_ = d.Close(ctx, true) // nothing was written: let another device in at once
		}
	}()
	if d.CacheDir == "" {
		if d.CacheDir, err = DefaultCacheDir(s); err != nil {
			return d, err
		}
	}
	if !o.ReadOnly {
		if d.unlock, err = localstate.Lock(d.CacheDir); err != nil {
			if errors.Is(err, localstate.ErrLocked) {
				return d, err
			}
			return d, fmt.Errorf("vault: locking the cache directory: %w", err)
		}
	}
	if d.State, err = State(s, u, d.CacheDir); err != nil {
		return d, err
	}
	if o.ReadOnly {
		return d, nil
	}
	if d.Store, d.EmulatedConditions, err = ProveStore(ctx, s, o.SingleDevice); err != nil {
		return d, err
	}
	d.mountID = newMountID()
	d.lease, err = lease.Acquire(ctx, d.Store, u.Keys, lease.Options{
		Device:   o.Device,
		MountID:  d.mountID,
		Force:    o.Force,
		Observer: d.State,
		Reclaim:  d.State.LastMount(),
		Logger:   o.Logger,
	})
	var held *lease.HeldError
	if errors.As(err, &held) {
		return d, err
	}
	if err != nil {
		return d, fmt.Errorf("vault: taking the writer lease: %w", err)
	}
	if err := d.State.SetMount(d.mountID); err != nil {
		return d, err
	}
	if err := upgradeVault(ctx, d.Store, u, o.Logger); err != nil {
		return d, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stop = cancel
	go d.lease.Run(runCtx, o.OnLeaseLost)
	return d, nil
}

// Options returns base completed with what the device holds: the store,
// cache directory, device name, read-only flag, mount id and lease, and
// the rollback check of every head the vault loads or follows, with each
// commit it makes or follows raising this device's mark.
func (d *Device) Options(base Options) Options {
	base.Store = d.Store
	base.CacheDir = d.CacheDir
	base.Device = d.o.Device
	base.ReadOnly = base.ReadOnly || d.o.ReadOnly
	base.CheckHead = HeadGuard(d.State, d.o.AcceptRollback)
	if hw, ok := d.State.HighWater(); ok {
		base.SeenMount, base.SeenSeq = hw.MountID, hw.Seq
	}
	base.OnCommit = func(h meta.Head) {
		if err := d.State.Observe(h); err != nil {
			d.o.Logger.Warn("cannot record the new commit in this device's state; rollback detection may miss it", "err", err)
		}
	}
	if d.lease != nil {
		base.MountID = d.mountID
		base.Lease = d.lease
	}
	return base
}

// Close releases the writer lease (only with clean, when nothing is left
// uncommitted: otherwise it expires, and this device reclaims it at once
// at its next open) and the local lock.
func (d *Device) Close(ctx context.Context, clean bool) error {
	var err error
	if d.stop != nil {
		d.stop()
	}
	if d.lease != nil && clean {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = d.lease.Release(rctx)
		cancel()
		if err != nil {
			err = fmt.Errorf("vault: releasing the writer lease (another device can take over once it expires): %w", err)
		}
	}
	if d.unlock != nil {
		_ = d.unlock()
	}
	return err
}

// WithWriterLease runs fn holding the vault's writer lease, so that no
// mount commits meanwhile (an offline snapshot, a prune), with the lease
// renewed while fn runs. ws must be a store ProveStore returned. Another
// device's live lease is *lease.HeldError.
func WithWriterLease(ctx context.Context, ws remote.Store, u *Unlocked, device string, log *slog.Logger, fn func(*lease.Lease) error) error {
	l, err := lease.Acquire(ctx, ws, u.Keys, lease.Options{Device: device, MountID: newMountID(), Logger: log})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	go l.Run(runCtx, nil)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	err = upgradeVault(ctx, ws, u, log)
	if err == nil {
		err = fn(l)
	}
	stop()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if rerr := l.Release(rctx); rerr != nil && err == nil {
		err = fmt.Errorf("vault: releasing the writer lease (another device can take over once it expires): %w", rerr)
	}
	return err
}
