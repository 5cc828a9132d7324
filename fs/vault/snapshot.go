package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/meta"
)

// Named snapshots (fs/history): every clean unmount leaves one, a mount
// with Options.SnapshotEvery takes them on a schedule, Snapshot takes one
// on request, and Options.Snapshot opens one read-only.

// openSnapshot opens the past snapshot opts.Snapshot for reading: no
// commits, no following of the writer.
func openSnapshot(ctx context.Context, opts Options) (*Vault, error) {
	opts.ReadOnly = true
	opts.FollowInterval = -1
	opts.SnapshotEvery = 0
	c := history.New(opts.Store, opts.Keys, history.Options{Rand: opts.Rand, Logger: opts.Logger})
	tree, _, err := c.Open(ctx, opts.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("fs: open snapshot %s in %s: %w", opts.Snapshot, opts.Store, err)
	}
	return newFS(opts, tree, nil), nil
}

// Snapshot commits everything written so far as a full snapshot and names
// it in the vault's catalog. It fails on a read-only or fenced mount.
func (fs *Vault) Snapshot(ctx context.Context) (history.Snapshot, error) {
	if err := fs.writable(); err != nil {
		return history.Snapshot{}, fmt.Errorf("fs: snapshot: %w", err)
	}
	if err := fs.Sync(ctx); err != nil {
		return history.Snapshot{}, fmt.Errorf("fs: snapshot: %w", err)
	}
	fs.commitMu.Lock()
	defer fs.commitMu.Unlock()
	return fs.snapshotLocked(ctx, true)
}

// snapshotLocked writes a full snapshot of everything committed or
// published (files closed or renamed since are published first, as in
// commit, and with the same waits for staged uploads) and records it in
// the catalog. The caller holds commitMu. With strict false (the final
// snapshot of an unmount, whose data is safe in the store either way) a
// catalog failure is only logged.
func (fs *Vault) snapshotLocked(ctx context.Context, strict bool) (history.Snapshot, error) {
	if err := fs.waitUploads(ctx); err != nil {
		return history.Snapshot{}, err
	}
	fs.nsMu.Lock()
	defer fs.nsMu.Unlock()
	if err := fs.publishAll(ctx, fs.dirtyFiles(true), pubClosed); err != nil {
		return history.Snapshot{}, err
	}
	if fs.tree.Dirty() {
		fs.saveIntent()
	}
	if err := fs.checkLease(); err != nil {
		return history.Snapshot{}, err
	}
	h, err := fs.snapshotTree(ctx)
	if err != nil {
		if errors.Is(err, meta.ErrFenced) {
			fs.fenced.Store(true)
		}
		return history.Snapshot{}, err
	}
	fs.committed(h)
	c := history.New(fs.opts.Store, fs.opts.Keys, history.Options{Rand: fs.opts.Rand, Logger: fs.log})
	snap, err := c.Record(ctx, fs.mlog, fs.tree)
	if err != nil {
		if strict {
			return history.Snapshot{}, err
		}
		fs.log.Error("the final commit is saved, but it could not be named as a snapshot", "seq", h.Seq, "err", err)
		return history.Snapshot{}, nil
	}
	fs.log.Info("snapshot taken", "id", snap.ID, "seq", h.Seq)
	return snap, nil
}

// snapshotTree writes a full snapshot under the same rules as a commit
// (persistTree in staging_commit.go).
func (fs *Vault) snapshotTree(ctx context.Context) (meta.Head, error) {
	return fs.persistTree(ctx, func(ctx context.Context) (meta.Head, error) {
		return fs.mlog.Snapshot(ctx, fs.tree)
	})
}

// snapshotLoop takes a snapshot every SnapshotEvery until Close (which
// takes the last one). It runs in fs.bg, so Close waits for it.
func (fs *Vault) snapshotLoop() {
	t := time.NewTicker(fs.opts.SnapshotEvery)
	defer t.Stop()
	var last uint64 // head seq of the last scheduled snapshot
	for {
		select {
		case <-fs.loopStop:
			return
		case <-t.C:
		}
		if fs.fenced.Load() {
			return
		}
		last = fs.scheduledSnapshot(last)
		fs.count.snapTicks.Add(1)
	}
}

// scheduledSnapshot takes a scheduled snapshot unless nothing changed
// since the last one (whose head seq is last); it returns the new last.
func (fs *Vault) scheduledSnapshot(last uint64) uint64 {
	if fs.mlog.Head().Seq == last && !fs.tree.Dirty() && len(fs.dirtyFiles(false)) == 0 {
		return last // nothing changed: the last snapshot still says it all
	}
	if _, err := fs.Snapshot(fs.ctx); err != nil {
		fs.log.Error("scheduled snapshot failed; will try at the next one", "err", err)
		return last
	}
	return fs.mlog.Head().Seq
}

// startSnapshots starts the schedule of a writable FS with SnapshotEvery.
func (fs *Vault) startSnapshots() {
	if fs.opts.ReadOnly || fs.opts.SnapshotEvery <= 0 || fs.mlog == nil {
		return
	}
	fs.bg.Go(fs.snapshotLoop)
}

// StoreName names the store the vault is in (its String), so that a
// command given a store address can find the mount serving it.
func (fs *Vault) StoreName() string { return fs.opts.Store.String() }

// Writable reports whether the vault can commit: read-write and not
// fenced by another writer.
func (fs *Vault) Writable() bool { return fs.writable() == nil }
