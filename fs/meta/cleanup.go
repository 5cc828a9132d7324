package meta

import (
	"context"
	"fmt"
	"time"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// Cleanup deletes metadata objects that the current head does not name:
// snapshots and batches replaced by a newer snapshot, and the uploads of
// commits that never swapped head. It reads head first and refuses
// (ErrFenced) if head is not the one this Log last wrote or read, so a
// stale writer never deletes what a newer one relies on. Objects younger
// than LogOptions.CleanupGrace, or with a seq past head, are kept: they may
// belong to a commit in flight.
func (l *Log) Cleanup(ctx context.Context) error { return l.CleanupKeep(ctx, nil) }

// CleanupKeep is Cleanup that also keeps every key for which keep returns
// true (for example snapshots that named points in time still refer to).
func (l *Log) CleanupKeep(ctx context.Context, keep func(key string) bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fenced {
		return ErrFenced
	}
	if l.doubt != nil {
		return fmt.Errorf("meta: cleanup: the outcome of commit %d is unknown; commit first", l.doubt.rec.seq)
	}
	h, _, info, err := readHead(ctx, l.s, l.k)
	if err != nil {
		return fmt.Errorf("meta: cleanup: %w", err)
	}
	if info.ETag != l.etag {
		return fmt.Errorf("meta: cleanup: %w", fenced(h))
	}
	live := map[string]bool{h.snapshot.key: true}
	for _, r := range h.journal {
		if r.inline == "" {
			live[r.key] = true
		}
	}
	cutoff := time.Now().Add(-l.opts.CleanupGrace)
	var dead []string
	err = l.s.List(ctx, layout.MetaPrefix, func(o remote.ObjectInfo) error {
		seq, _, ok := layout.ParseMetaKey(o.Key)
		if ok && !live[o.Key] && seq <= h.seq && o.ModTime.Before(cutoff) && (keep == nil || !keep(o.Key)) {
			dead = append(dead, o.Key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("meta: cleanup: list: %w", err)
	}
	if err := l.s.DeleteMany(ctx, dead); err != nil {
		return fmt.Errorf("meta: cleanup: delete %d objects: %w", len(dead), err)
	}
	l.opts.Logger.Debug("meta: cleanup", "deleted", len(dead))
	return nil
}
