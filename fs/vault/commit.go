package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/meta"
)

// pubMode says which content of a file a publish applies.
type pubMode int

const (
	// pubCurrent: the content as of now (fsync(2) of the file, syncfs,
	// unmount): the caller asked for it.
	pubCurrent pubMode = iota
	// pubClosed: the content as of the file's last close (a commit, a
	// named snapshot). A file open and changed since its close keeps the
	// content published before: publishing the current one could commit
	// a version that is still being written (a torn file after a crash).
	pubClosed
	// pubBackground: pubClosed after close(2); nobody waits for it, so
	// small files may linger to be packed together (pack.go).
	pubBackground
	// pubFsync: pubCurrent for fsync(2) of the file; a small file may
	// wait a moment for other writers' fsyncs to share its pack
	// (packRound).
	pubFsync
)

// current reports whether m publishes the content as of now.
func (m pubMode) current() bool { return m == pubCurrent || m == pubFsync }

// publish makes f's content part of the tree, atomically: it freezes
// every unpublished chunk of that content, waits until all of them are in
// the store, then applies size and extents with one Tree.SetFileData.
// Writes that arrive meanwhile stay pending for the next publish.
//
// With pubClosed and pubBackground it publishes the content as of the
// last close, never a later one: if the file was changed again since, it
// publishes the snapshot the first change took (file.snap), or nothing
// when a later publish has superseded that.
func (fs *Vault) publish(ctx context.Context, f *file, mode pubMode) error {
	f.pubMu.Lock()
	defer f.pubMu.Unlock()

	f.wmu.Lock()
	f.mu.Lock()
	f.queued = false
	snap := f.snap
	f.snap = nil
	if snap == nil {
		// Changed since its close (closed is false) and not published
		// by a change-time snapshot: in progress, unless nobody has it
		// open (a truncate(2) by path) and a commit asks.
		inProgress := !f.closed && (mode == pubBackground || mode == pubClosed && f.opens > 0)
		if !f.dirty || f.gone || !mode.current() && inProgress {
			f.mu.Unlock()
			f.wmu.Unlock()
			return nil
		}
	}
	if snap == nil || mode.current() {
		snap = f.snapshotLocked() // the current content
	}
	f.mu.Unlock()
	f.wmu.Unlock()
	switch {
	case mode == pubFsync && fs.up.pack.holds(snap.vers):
		fs.packing.join(ctx, fs.up.pack, fs.opts.Tuning.PackGather)
		defer fs.packing.leave()
	case mode != pubBackground:
		fs.up.pack.flush() // an fsync or a commit waits: do not linger
	}
	gen, size, truncAt, vers := snap.gen, snap.size, snap.truncAt, snap.vers

	exts, shared, err := waitVersions(ctx, vers)
	if err == nil {
		err = fs.lockApply(ctx) // see commitTree
	}
	if err == nil {
		defer fs.applyGate.RUnlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && !f.gone {
		err = fs.applyLocked(f, size, truncAt, exts, shared)
	}
	if err != nil {
		return fmt.Errorf("fs: publish inode %d: %w", f.ino, err)
	}
	// The new base has the snapshot's truncations applied; only later
	// ones still mask it.
	f.truncAt = f.truncatedSinceLocked(snap.truncSeq)
	for ci, v := range vers {
		if f.chunks[ci] == v {
			delete(f.chunks, ci)
		}
	}
	if f.gen == gen {
		f.dirty, f.renamed = false, false
	}
	return nil
}

// waitVersions waits for the uploads of vers and returns their extents,
// and the objects of those that were already stored (dedup.go).
func waitVersions(ctx context.Context, vers map[int64]*version) (map[int64]meta.Extent, []crypt.ObjectID, error) {
	exts := make(map[int64]meta.Extent, len(vers))
	var shared []crypt.ObjectID
	for ci, v := range vers {
		v.mu.Lock()
		done := v.done
		v.mu.Unlock()
		if done != nil {
			select {
			case <-done:
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("waiting for uploads: %w", ctx.Err())
			}
		}
		v.mu.Lock()
		ext, err, sh := v.ext, v.err, v.shared
		v.mu.Unlock()
		if err != nil {
			return nil, nil, err
		}
		exts[ci] = ext
		if sh {
			shared = append(shared, ext.Object)
		}
	}
	return exts, shared, nil
}

// applyLocked publishes one snapshot of f into the tree. Published chunks
// that a truncation cut off and that the snapshot does not replace become
// holes.
func (fs *Vault) applyLocked(f *file, size, truncAt int64, exts map[int64]meta.Extent, shared []crypt.ObjectID) error {
	in, ok := fs.tree.Get(f.ino)
	if !ok {
		return errors.New("inode is gone")
	}
	if truncAt != noTrunc {
		for ci := (truncAt + fs.cs - 1) / fs.cs; ci < int64(len(in.Extents)) && ci*fs.cs < size; ci++ {
			if _, ok := exts[ci]; !ok && !in.Extents[ci].IsHole() {
				exts[ci] = meta.Extent{}
			}
		}
	}
	unref, err := fs.tree.SetFileDataShared(f.ino, uint64(size), exts, f.mtime, shared)
	if err != nil {
		return err
	}
	fs.dedup.published(unref)
	in, _ = fs.tree.Get(f.ino)
	f.base = in.Extents
	return nil
}

// pubSnap is the content of a file that one publish applies.
type pubSnap struct {
	gen           uint64
	size, truncAt int64
	truncSeq      uint64 // the file's truncation count when it was taken
	vers          map[int64]*version
}

// snapshotLocked freezes f's unpublished chunks and returns its content as
// of now; truncations from now on are recorded for the next publish. The
// caller holds f.wmu and f.mu.
func (f *file) snapshotLocked() *pubSnap {
	s := &pubSnap{gen: f.gen, size: f.size, truncAt: f.truncAt, truncSeq: f.truncSeq, vers: maps.Clone(f.chunks)}
	for _, v := range s.vers {
		f.fs.freezeLocked(f, v)
	}
	return s
}

// truncatedSinceLocked returns the lowest size f was truncated to after
// truncation number seq (noTrunc if none), the truncAt that holds once the
// publish of a snapshot taken then has applied, and forgets the older
// truncations: publishes apply in order, so none needs them any more.
func (f *file) truncatedSinceLocked(seq uint64) int64 {
	low := int64(noTrunc)
	keep := f.truncs[:0]
	for _, t := range f.truncs {
		if t.seq > seq {
			low = min(low, t.size)
			keep = append(keep, t)
		}
	}
	f.truncs = keep
	return low
}

// changingLocked runs before every change to f's content or size (writes,
// truncates). The first change after a close whose background publish has
// not started yet takes that publish's snapshot, so that it publishes the
// closed content and not the change. The caller holds f.wmu and f.mu.
func (f *file) changingLocked() {
	if !f.closed {
		return
	}
	f.closed = false
	if f.queued && f.dirty && !f.gone {
		f.snap = f.snapshotLocked()
	}
}

// publishAsync publishes f in the background (close(2) does not wait):
// its content as of now, even if it changes before the publish runs.
func (fs *Vault) publishAsync(f *file) {
	f.mu.Lock()
	if f.dirty && !f.gone {
		// The content now is what the background publish must publish;
		// an older closed snapshot it had not published yet is superseded.
		f.closed, f.snap = true, nil
	}
	if !f.dirty || f.queued || f.gone {
		f.mu.Unlock()
		fs.maybeDrop(f)
		return
	}
	f.queued = true
	f.mu.Unlock()
	fs.count.bgPublishes.Add(1)
	fs.bg.Go(func() {
		defer fs.count.bgPublishes.Add(-1)
		err := fs.publish(fs.ctx, f, pubBackground)
		if err != nil {
			fs.log.Error("background publish failed; will retry", "inode", uint64(f.ino), "err", err)
			f.mu.Lock()
			f.err = err
			f.mu.Unlock()
		}
		fs.maybeDrop(f)
	})
}

// fsync returns once f's data and a commit holding it are in the store.
func (fs *Vault) fsync(ctx context.Context, f *file) error {
	if fs.opts.ReadOnly {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, fs.opts.FsyncTimeout)
	defer cancel()
	// Only a file with at most one chunk to upload is waited for
	// (groupwait.go): its upload is about one PUT, as long as a commit.
	f.mu.Lock()
	small := len(f.chunks) <= 1
	f.mu.Unlock()
	if small {
		fs.fsyncing.start()
	}
	err := fs.publish(ctx, f, pubFsync)
	if small {
		fs.fsyncing.done()
	}
	if err == nil {
		err = fs.commitCovering(ctx, fs.tree.Changes())
	}
	return fsyncError(err)
}

// commit commits whatever is published. Files closed (or renamed) with
// unpublished data are published first, so that a commit never names a
// file whose content is not in it yet: a temporary file renamed over
// yesterday's backup is committed with its data or not at all.
func (fs *Vault) commit(ctx context.Context) error {
	return fs.commitCovering(ctx, 0)
}

// commitCovering is commit for a caller that needs only the tree's
// changes up to number want (Tree.Changes; 0 = all) in the store: if a
// commit that started after them succeeded while it waited for its turn,
// it returns at once. Concurrent fsyncs so share one commit (group
// commit): each waits for the one in progress, and the next one holds
// them all, where each used to commit again for the changes that other
// writers made meanwhile (a sync tool's next temporary file).
func (fs *Vault) commitCovering(ctx context.Context, want uint64) error {
	if fs.opts.ReadOnly {
		return nil
	}
	if err := fs.lockCommit(ctx); err != nil {
		return err
	}
	defer fs.commitMu.Unlock()
	if want > 0 && fs.durable.Load() >= want {
		fs.count.grouped.Add(1)
		return nil
	}
	if want > 0 {
		// Other fsyncs still uploading their data: this commit holds
		// them too if it waits a little (groupwait.go).
		fs.fsyncing.wait(ctx, fs.opts.Tuning.GroupCommitWait)
	}
	start := time.Now()
	// Publish without blocking renames first; then block them (nsMu) only
	// for what was closed or renamed meanwhile, and for the commit itself.
	for range 2 {
		if err := fs.publishAll(ctx, fs.dirtyFiles(true), pubClosed); err != nil {
			return err
		}
	}
	if err := fs.waitUploads(ctx); err != nil {
		return err
	}
	fs.nsMu.Lock()
	defer fs.nsMu.Unlock()
	if err := fs.publishAll(ctx, fs.dirtyFiles(true), pubClosed); err != nil {
		return err
	}
	if !fs.tree.Dirty() {
		return nil
	}
	// An fsync's attempt (want > 0) that needs no upload takes
	// milliseconds: its intent goes to the file system's cache, and is
	// written again durably if the attempt fails (writeIntent).
	cached := want > 0 && fs.stage != nil && fs.stage.uploaded(fs.tree.PendingObjects())
	fs.writeIntent(cached)
	committed := false
	defer func() {
		if cached && !committed {
			fs.saveIntent() // what it covered is pending again
		}
	}()
	if err := fs.checkLease(); err != nil {
		return err
	}
	h, err := fs.commitTree(ctx)
	if want > 0 {
		fs.fsyncing.took(time.Since(start)) // what a file waits for a commit of its own
	}
	if err != nil {
		if errors.Is(err, errUploadsPending) {
			return nil
		}
		if errors.Is(err, meta.ErrFenced) {
			fs.fenced.Store(true)
		}
		return fmt.Errorf("fs: commit: %w", err)
	}
	committed = true
	fs.committed(h)
	return nil
}

// checkLease fences the mount when its writer lease is gone: another
// device may be writing, so this one must not commit.
func (fs *Vault) checkLease() error {
	if fs.opts.Lease == nil {
		return nil
	}
	if err := fs.opts.Lease.Check(); err != nil {
		if errors.Is(err, lease.ErrExpired) {
			fs.count.deferred.Add(1)
			// Not confirmed lately (the store is unreachable): no commit
			// now, but no fence either. Writes go on into the staging
			// area; the renewal loop either confirms the lease again
			// (commits resume) or finds it taken (then Check fences).
			return fmt.Errorf("fs: commit deferred: writer lease: %w", err)
		}
		if !fs.fenced.Swap(true) {
			fs.log.Error("the writer lease is lost: this mount stops committing and is read-only now", "err", err)
		}
		return fmt.Errorf("fs: commit: writer lease: %w", err)
	}
	return nil
}

// committed reports a new head to Options.OnCommit.
func (fs *Vault) committed(h meta.Head) {
	if fs.opts.OnCommit != nil {
		fs.opts.OnCommit(h)
	}
}

// publishAll publishes files in parallel.
func (fs *Vault) publishAll(ctx context.Context, files []*file, mode pubMode) error {
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { errs[i] = fs.publish(ctx, f, mode) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// commitLoop commits every CommitInterval; commit also retries publishing
// closed files whose background publish failed.
func (fs *Vault) commitLoop() {
	defer close(fs.loopDone)
	if fs.opts.ReadOnly {
		<-fs.loopStop
		return
	}
	t := time.NewTicker(fs.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-fs.loopStop:
			return
		case <-t.C:
		}
		if err := fs.commit(noWait(fs.ctx)); err != nil {
			fs.log.Error("periodic commit failed; will retry", "err", err)
		}
	}
}

// dirtyFiles lists files with unpublished data; with closedOnly only
// those closed or renamed since they were written.
func (fs *Vault) dirtyFiles(closedOnly bool) []*file {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []*file
	for _, f := range fs.files {
		f.mu.Lock()
		if f.dirty && !f.gone && (!closedOnly || f.opens == 0 || f.renamed) {
			out = append(out, f)
		}
		f.mu.Unlock()
	}
	return out
}

// Sync publishes every file's data, open or not, and commits.
func (fs *Vault) Sync(ctx context.Context) error {
	if fs.opts.ReadOnly {
		return nil
	}
	if err := fs.publishAll(ctx, fs.dirtyFiles(false), pubCurrent); err != nil {
		return err
	}
	return fs.commit(ctx)
}

// Close publishes and commits everything, writes a full snapshot and stops
// the engine. It is idempotent; later calls return the first result.
func (fs *Vault) Close(ctx context.Context) error {
	fs.closeOnce.Do(func() {
		fs.progBase.Store(fs.up.done.Load())
		fs.closing.Store(true)
		close(fs.loopStop)
		<-fs.loopDone
		fs.up.pack.drain() // background publishes wait for packs
		fs.bg.Wait()
		sctx, stop := fs.stallContext(ctx)
		fs.closeErr = fs.finalCommit(sctx)
		stalled := stop()
		fs.cancel()
		fs.up.wg.Wait()
		fs.clean.release()
		fs.bgReads.Wait()
		fs.closeErr = fs.closeStaged(fs.closeErr, stalled)
	})
	return fs.closeErr
}

func (fs *Vault) finalCommit(ctx context.Context) error {
	if fs.opts.ReadOnly {
		return nil
	}
	if err := fs.Sync(ctx); err != nil {
		return err
	}
	fs.commitMu.Lock()
	defer fs.commitMu.Unlock()
	if err := fs.checkLease(); err != nil {
		return err
	}
	if _, err := fs.snapshotLocked(ctx, false); err != nil {
		return fmt.Errorf("fs: final snapshot: %w", err)
	}
	return nil
}

// Progress reports bytes uploaded and bytes to upload since Close began
// (zeros before).
func (fs *Vault) Progress() (done, total int64) {
	if !fs.closing.Load() {
		return 0, 0
	}
	base := fs.progBase.Load()
	done = fs.up.done.Load() - base
	total = fs.up.queued.Load() - base + fs.unfrozenBytes()
	return done, max(total, done)
}

func (fs *Vault) unfrozenBytes() int64 {
	var n int64
	for _, f := range fs.dirtyFiles(false) {
		f.mu.Lock()
		for _, v := range f.chunks {
			if !v.frozen && v.data != nil {
				n += v.data.Len()
			}
		}
		f.mu.Unlock()
	}
	return n
}
