package vault

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/localstate"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// TakeSnapshot takes a named snapshot with no mount running: under the
// writer lease (WithWriterLease; ws a store ProveStore returned), it loads
// the head (checked against this device's mark in st, which it raises),
// writes a full checkpoint and names it in the catalog.
func TakeSnapshot(ctx context.Context, ws remote.Store, u *Unlocked, st *localstate.State, device string, log *slog.Logger) (history.Snapshot, error) {
	var snap history.Snapshot
	s := ws
	err := WithWriterLease(ctx, ws, u, device, log, func(l *lease.Lease) error {
		t, mlog, err := meta.Open(ctx, s, u.Keys, meta.LogOptions{Device: device, MountID: "snapshot-" + newMountID(), Logger: log,
			CheckHead: HeadGuard(st, false)})
		if err != nil {
			return fmt.Errorf("vault: reading the vault's metadata: %w", err)
		}
		if err := l.Check(); err != nil {
			return fmt.Errorf("vault: writer lease: %w", err)
		}
		h, err := mlog.Snapshot(ctx, t)
		if err != nil {
			return fmt.Errorf("vault: writing the snapshot: %w", err)
		}
		if err := st.Observe(h); err != nil {
			return err
		}
		snap, err = history.New(s, u.Keys, history.Options{Logger: log}).Record(ctx, mlog, t)
		return err
	})
	return snap, err
}
