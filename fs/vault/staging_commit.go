package vault

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote"
)

// noWaitKey marks the context of a periodic commit: it does not wait for
// uploads (a commit during an outage would hold commitMu for its whole
// length), it writes the intent and tries again at the next tick.
type noWaitKey struct{}

func noWait(ctx context.Context) context.Context { return context.WithValue(ctx, noWaitKey{}, true) }

// saveIntent writes the intent log for what the tree holds pending, durably,
// before a commit attempt. A failure is logged, not returned: the commit
// itself may still succeed, which makes the intent moot.
func (fs *Vault) saveIntent() { fs.writeIntent(false) }

// writeIntent is saveIntent; with cached, for the attempt of an fsync(2)
// that needs no upload (stage.Dir.WriteIntentCached), the intent goes to
// the file system's cache, kept through a kill -9, and is written again
// durably if the attempt waits (persistTree) or fails (commitCovering). A
// power cut in the milliseconds of that attempt can lose what it covered,
// none of which an fsync acknowledged (docs/SECURITY.md, "Crash safety
// and outages"); it saves three flushes of every fsync (intent file, its
// directory, the directory again at its removal).
func (fs *Vault) writeIntent(cached bool) {
	if fs.stage == nil {
		return
	}
	fs.dedup.refreshAll(fs.ctx)
	if err := fs.stage.writeIntent(fs.tree.Pending(), cached); err != nil {
		fs.log.Error("cannot write the intent log to local disk", "err", err)
	}
}

// writeIntent records p with the files it touches, as of now.
func (s *stager) writeIntent(p meta.Pending, cached bool) error {
	s.intentMu.Lock()
	defer s.intentMu.Unlock()
	fs := s.fs
	h := fs.mlog.Head()
	in := &stage.Intent{
		BaseSeq: h.Seq, BaseMount: h.MountID, BaseTime: h.Time.UnixNano(),
		Writer: fs.opts.MountID, Device: fs.opts.Device, Written: time.Now().UnixNano(),
		Next: uint64(p.Next), Ops: p.Ops, Objects: p.Objects,
	}
	paths := fs.tree.Paths(p.Files, fs.places(p.Files))
	for _, ino := range p.Files {
		path, ok := paths[ino]
		n, ok2 := fs.tree.Get(ino)
		if !ok || !ok2 || !n.IsRegular() {
			continue
		}
		in.Files = append(in.Files, stage.File{Path: path, Mode: n.Mode, Uid: n.Uid, Gid: n.Gid,
			Size: n.Size, Mtime: n.Mtime, Extents: n.Extents})
	}
	if cached {
		return s.dir.WriteIntentCached(in)
	}
	return s.dir.WriteIntent(in)
}

// places returns the names the files of inos that are open, or hold
// unpublished data, were last opened by: hints for Tree.Paths, which
// checks each against the tree.
func (fs *Vault) places(inos []meta.Ino) map[meta.Ino]meta.Place {
	fs.mu.Lock()
	fl := make([]*file, 0, len(inos))
	for _, ino := range inos {
		if f := fs.files[ino]; f != nil {
			fl = append(fl, f)
		}
	}
	fs.mu.Unlock()
	out := make(map[meta.Ino]meta.Place, len(fl))
	for _, f := range fl {
		f.mu.Lock()
		if f.place.Parent != 0 {
			out[f.ino] = f.place
		}
		f.mu.Unlock()
	}
	return out
}

// commitTree commits the tree's pending changes (see persistTree).
func (fs *Vault) commitTree(ctx context.Context) (meta.Head, error) {
	return fs.persistTree(ctx, fs.commitRetry)
}

// persistTree runs write (a journal commit or a full snapshot) on the
// tree's pending changes. With a staging area it first waits until every
// object they name is in the store (a periodic commit does not wait: it
// defers), and holds applyGate across write so that no publish adds an
// extent whose object is still uploading between that check and write
// taking the ops.
func (fs *Vault) persistTree(ctx context.Context, write func(context.Context) (meta.Head, error)) (meta.Head, error) {
	s := fs.stage
	if s == nil {
		return fs.writeCovering(ctx, write)
	}
	_, deferOK := ctx.Value(noWaitKey{}).(bool)
	for {
		objs := fs.tree.PendingObjects()
		if !s.uploaded(objs) {
			if deferOK {
				return fs.mlog.Head(), errUploadsPending
			}
			if s.dir.IntentCached() {
				fs.saveIntent() // this attempt waits: see writeIntent
			}
			if err := s.wait(ctx, objs); err != nil {
				return fs.mlog.Head(), err
			}
		}
		fs.applyGate.Lock()
		if !s.uploaded(fs.tree.PendingObjects()) {
			fs.applyGate.Unlock() // a publish slipped in: wait for it too
			continue
		}
		h, err := fs.writeCovering(ctx, write)
		if err == nil {
			fs.dedup.committed()
		}
		fs.applyGate.Unlock()
		if err == nil && !fs.tree.Dirty() {
			if rerr := s.dir.RemoveIntent(); rerr != nil {
				fs.log.Warn("cannot remove the intent log", "err", rerr)
			}
		}
		return h, err
	}
}

// writeCovering runs write and, when it succeeds, records that every tree
// change made before it started is in the store (group commit: see
// commitCovering).
func (fs *Vault) writeCovering(ctx context.Context, write func(context.Context) (meta.Head, error)) (meta.Head, error) {
	n := fs.tree.Changes()
	h, err := write(ctx)
	if err == nil {
		for d := fs.durable.Load(); d < n && !fs.durable.CompareAndSwap(d, n); d = fs.durable.Load() {
		}
	}
	return h, err
}

// commitRetry commits. The store retries its puts after transient
// failures (503 bursts, resets): a commit someone waits for with a context
// that can end (fsync, unmount, a snapshot) until that context ends; a
// periodic commit as often as the store's policy says (the next tick
// tries again). A failed attempt leaves the ops pending, and a head put
// whose outcome was lost is resolved by meta.
func (fs *Vault) commitRetry(ctx context.Context) (meta.Head, error) {
	return fs.mlog.Commit(persistent(ctx), fs.tree)
}

// persistent is ctx for store calls that must go on while the caller
// waits: until ctx ends, each attempt bounded, unless ctx cannot end or
// belongs to a periodic commit.
func persistent(ctx context.Context) context.Context {
	if _, periodic := ctx.Value(noWaitKey{}).(bool); periodic || ctx.Done() == nil {
		return ctx
	}
	return remote.WithCallRetry(ctx, remote.CallRetry{Persist: true, AttemptTimeout: 2 * time.Minute})
}

// fsyncError is what fsync(2) reports: EIO for every failure to make the
// data durable (a network error's ECONNRESET inside it would mislead the
// application), EROFS for a read-only or fenced mount.
func fsyncError(err error) error {
	if err == nil || errors.Is(err, syscall.EROFS) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("fs: fsync: %w (%v)", syscall.EIO, err)
}

// lockApply read-locks applyGate for a publish, or gives up when ctx ends
// (an fsync must not wait without bound behind a commit in an outage).
func (fs *Vault) lockApply(ctx context.Context) error {
	return lockPolling(ctx, fs.applyGate.TryRLock, "a commit in progress")
}

// lockPolling calls try until it succeeds or ctx ends: sync mutexes do not
// take a context.
func lockPolling(ctx context.Context, try func() bool, what string) error {
	if try() {
		return nil
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("fs: waiting for %s: %w", what, ctx.Err())
		case <-t.C:
			if try() {
				return nil
			}
		}
	}
}

// lockCommit takes commitMu, or gives up when ctx ends: an fsync must not
// wait without bound behind a commit stuck in an outage.
func (fs *Vault) lockCommit(ctx context.Context) error {
	if err := fs.commitMu.lockCtx(ctx); err != nil {
		return fmt.Errorf("fs: waiting for a commit in progress: %w", err)
	}
	return nil
}

// ctxMutex is a mutex whose Lock can give up when a context ends
// (lockCtx), and wakes a waiter as soon as it is unlocked. commitMu is
// one: the fsyncs that a commit covered wait for it to let go and then
// return at once (commitCovering); polling a sync.Mutex every 2 ms spread
// their returns over the next ticks, and with them the writers' next
// files, which the next round's pack waits for (packRound).
type ctxMutex struct{ ch chan struct{} }

func newCtxMutex() ctxMutex { return ctxMutex{ch: make(chan struct{}, 1)} }

// Lock takes the mutex.
func (m ctxMutex) Lock() { m.ch <- struct{}{} }

// Unlock lets it go; it must be held.
func (m ctxMutex) Unlock() {
	select {
	case <-m.ch:
	default:
		panic("vault: unlock of an unlocked ctxMutex")
	}
}

// lockCtx takes the mutex, or returns ctx's error once ctx ends.
func (m ctxMutex) lockCtx(ctx context.Context) error {
	select {
	case m.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case m.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stallContext returns a context for the final commit that ends when
// uploads have made no progress for OutageTimeout: unmount waits as long
// as the bucket takes data, and leaves the rest staged when it does not.
func (fs *Vault) stallContext(ctx context.Context) (context.Context, func() error) {
	s := fs.stage
	if s == nil {
		return ctx, func() error { return nil }
	}
	ctx, cancel := context.WithCancelCause(ctx)
	s.progress.Store(time.Now().UnixNano())
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(min(fs.opts.OutageTimeout/10, time.Second))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				idle := time.Since(time.Unix(0, s.progress.Load()))
				if idle > fs.opts.OutageTimeout {
					cancel(fmt.Errorf("the store made no progress for %s", idle.Round(time.Second)))
					return
				}
			}
		}
	}()
	return ctx, func() error {
		close(stop)
		err := context.Cause(ctx)
		cancel(nil)
		if errors.Is(err, context.Canceled) {
			return nil // not a stall
		}
		return err
	}
}

// waitUploads waits, before a commit blocks renames, for the uploads of
// the objects published so far, writing the intent first if that may take
// a while. A periodic commit does not wait.
func (fs *Vault) waitUploads(ctx context.Context) error {
	s := fs.stage
	if _, deferOK := ctx.Value(noWaitKey{}).(bool); s == nil || deferOK {
		return nil
	}
	objs := fs.tree.PendingObjects()
	if s.uploaded(objs) {
		return nil
	}
	fs.saveIntent()
	return s.wait(ctx, objs)
}

// closeStaged finishes Close for a staging FS: after a failed final
// commit it records the intent and reports what stays staged (wrapping
// ErrStaged); after a clean one it removes what no commit needs.
func (fs *Vault) closeStaged(err, stalled error) error {
	s := fs.stage
	if s == nil {
		return err
	}
	if err != nil && stalled != nil {
		err = fmt.Errorf("%w: %w", stalled, err)
	}
	if err == nil {
		fs.dropUnneededStaged()
		return nil
	}
	fs.saveIntent()
	n, bytes := s.pending()
	fs.log.Error("the final commit failed: changes stay staged on this device; the next read-write mount here uploads and commits them",
		"dir", s.dir.Path(), "objects", n, "bytes", bytes, "err", err)
	return fmt.Errorf("fs: %w (%d objects, %d bytes, and the uncommitted changes, sealed in %s; the next read-write mount on this device commits them): %w",
		ErrStaged, n, bytes, s.dir.Path(), err)
}

// dropUnneededStaged removes the intent and the staged objects after
// everything was committed: what is still staged then is data no commit
// names (written and deleted again before it was uploaded).
func (fs *Vault) dropUnneededStaged() {
	s := fs.stage
	if fs.tree.Dirty() {
		return
	}
	errs := []error{s.dir.RemoveIntent()}
	objs, err := s.dir.Objects()
	errs = append(errs, err)
	for id := range objs {
		errs = append(errs, s.dir.RemoveObject(id))
	}
	if err := errors.Join(errs...); err != nil {
		fs.log.Warn("cannot clean the staging area", "err", err)
	}
}
