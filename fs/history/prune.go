package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// DefaultGrace is how old an unreferenced object must be before Prune
// deletes it: uploads of a commit in flight, or of a writer that crashed
// and commits them at its restart within the hour, are younger. A writer
// that comes back later finds what a prune deleted meanwhile and reports
// the files as lost (fs: recover.go).
const DefaultGrace = time.Hour

// deleteBatch is how many keys one DeleteMany call gets (S3's limit).
const deleteBatch = 1000

// PruneOptions configure Prune. The zero value forgets nothing and deletes
// unreferenced objects older than DefaultGrace.
type PruneOptions struct {
	Policy Policy
	// Grace protects unreferenced objects younger than this (0 =
	// DefaultGrace, negative = none: only when no writer can be running).
	Grace time.Duration
	// DryRun computes everything and deletes nothing.
	DryRun bool
	// Progress, if set, is called with bytes deleted so far and in all.
	Progress func(done, total int64)
	// Now is the clock the grace period is measured on (nil = time.Now).
	Now func() time.Time
	// Guard, if set, is asked right before objects are deleted; an error
	// stops the prune there (e.g. the caller lost its writer lease).
	Guard func() error
}

// PruneResult says what a prune did (or, for a dry run, would do).
type PruneResult struct {
	Kept, Forgotten []Snapshot
	// Deleted are the objects deleted (or that would be).
	Deleted      []remote.ObjectInfo
	DeletedBytes int64
	// Young counts unreferenced objects kept because of the grace period.
	Young      int
	YoungBytes int64
	// Live counts the objects the head and the kept snapshots reference.
	Live      int
	LiveBytes int64
}

// ErrHeadMoved means a writer committed while Prune was working; nothing
// was deleted. Run it again (better: while no writer is mounted).
var ErrHeadMoved = errors.New("history: prune: a writer committed meanwhile; nothing deleted, run prune again")

// Prune forgets the snapshots opts.Policy does not keep, then deletes every
// object under data/ and meta/ that neither the current head nor a kept
// snapshot references and that is older than the grace period.
//
// Order makes it safe to interrupt and rerun: catalog entries go first, so
// a kept snapshot never names an object that is gone (an interrupted prune
// leaves only garbage, which the rerun deletes). Nothing is deleted unless
// the head and every kept snapshot load and verify, or if head moved while
// Prune worked. Prune does not stop a writer from committing: the caller
// holds the writer lease (or accepts the grace period as the only guard).
func Prune(ctx context.Context, s remote.Store, c *Catalog, opts PruneOptions) (*PruneResult, error) {
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// A store this device saw newer is refused before anything changes:
	// forgetting by the policy on a rolled-back catalog would delete the
	// records of snapshots the real store still has.
	if c.checkHead != nil {
		h, err := meta.ReadHead(ctx, s, c.k)
		if err != nil {
			return nil, fmt.Errorf("history: prune: read head: %w", err)
		}
		if err := c.checkHead(h); err != nil {
			return nil, fmt.Errorf("history: prune: nothing changed: %w", err)
		}
	}
	snaps, bad, err := c.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("history: prune: catalog entry %s is damaged (%w); nothing deleted: see 'sealfs check', then forget it by its key", bad[0].Key, bad[0].Err)
	}
	res := &PruneResult{}
	res.Kept, res.Forgotten = opts.Policy.Apply(snaps)
	if !opts.DryRun && len(res.Forgotten) > 0 {
		keys := make([]string, len(res.Forgotten))
		for i, f := range res.Forgotten {
			keys[i] = f.Key
		}
		if err := s.DeleteMany(ctx, keys); err != nil {
			return nil, fmt.Errorf("history: prune: forget %d snapshots: %w", len(keys), err)
		}
	}
	live, head, err := liveSet(ctx, c, res.Kept)
	if err != nil {
		return nil, fmt.Errorf("history: prune: nothing deleted: %w", err)
	}
	if err := sweep(ctx, s, live, head, opts, res); err != nil {
		return nil, err
	}
	if opts.DryRun || len(res.Deleted) == 0 {
		return res, nil
	}
	if cur, err := meta.ReadHead(ctx, s, c.k); err != nil || !cur.SameCommit(head) {
		if err != nil {
			return nil, fmt.Errorf("history: prune: read head again: %w", err)
		}
		return nil, ErrHeadMoved
	}
	if opts.Guard != nil {
		if err := opts.Guard(); err != nil {
			return nil, fmt.Errorf("history: prune: nothing deleted: %w", err)
		}
	}
	return res, deleteAll(ctx, s, res.Deleted, opts.Progress)
}

// liveSet loads the head and every kept snapshot and returns the store keys
// of every object they reference.
func liveSet(ctx context.Context, c *Catalog, kept []Snapshot) (map[string]bool, meta.Head, error) {
	hd, h, err := loadHead(ctx, c)
	if err != nil {
		return nil, h, fmt.Errorf("the current head does not load: %w", err)
	}
	live := map[string]bool{}
	add := func(tr *tree) {
		for _, k := range tr.meta {
			live[k] = true
		}
		tr.dataKeys(func(key string, _ objectUse) { live[key] = true })
	}
	add(hd)
	for _, snap := range kept {
		tr, err := loadSnapshot(ctx, c.s, c.k, snap)
		if err != nil {
			return nil, h, fmt.Errorf("snapshot %s does not load (see 'sealfs check'): %w", snap.ID, err)
		}
		add(tr)
	}
	return live, h, nil
}

// sweep lists data/ and meta/ and sorts every object sealfs wrote there
// into live, young and deletable. Keys sealfs does not write are left alone.
func sweep(ctx context.Context, s remote.Store, live map[string]bool, head meta.Head, opts PruneOptions, res *PruneResult) error {
	cutoff := opts.Now().Add(-max(opts.Grace, 0))
	for _, prefix := range []string{layout.MetaPrefix, layout.DataPrefix} {
		err := s.List(ctx, prefix, func(o remote.ObjectInfo) error {
			switch {
			case live[o.Key]:
				res.Live++
				res.LiveBytes += o.Size
			case !ours(o.Key, head.Seq):
			case opts.Grace > 0 && !o.ModTime.Before(cutoff):
				res.Young++
				res.YoungBytes += o.Size
			default:
				res.Deleted = append(res.Deleted, o)
				res.DeletedBytes += o.Size
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("history: prune: list %s: %w", prefix, err)
		}
	}
	return nil
}

// ours reports whether key is an object sealfs writes and prune may
// delete: a chunk object, or a metadata object not newer than head (a
// newer one belongs to a commit in flight).
func ours(key string, headSeq uint64) bool {
	if seq, _, ok := layout.ParseMetaKey(key); ok {
		return seq <= headSeq
	}
	_, ok := layout.ParseDataKey(key)
	return ok
}

func deleteAll(ctx context.Context, s remote.Store, objs []remote.ObjectInfo, progress func(done, total int64)) error {
	var done, total int64
	for _, o := range objs {
		total += o.Size
	}
	for i := 0; i < len(objs); i += deleteBatch {
		batch := objs[i:min(i+deleteBatch, len(objs))]
		keys := make([]string, len(batch))
		for j, o := range batch {
			keys[j] = o.Key
			done += o.Size
		}
		if err := s.DeleteMany(ctx, keys); err != nil {
			return fmt.Errorf("history: prune: delete: %w (run prune again to finish)", err)
		}
		if progress != nil {
			progress(done, total)
		}
	}
	return nil
}
