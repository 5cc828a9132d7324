package vault

import (
	"context"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/fs/meta"
)

// Readlink returns the target of the symbolic link ino.
func (fs *Vault) Readlink(ino meta.Ino) (string, error) {
	in, ok := fs.tree.Get(ino)
	if !ok {
		return "", syscall.ENOENT
	}
	if in.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		return "", syscall.EINVAL
	}
	return in.Target, nil
}

// FsyncDir is fsync(2) of a directory: it commits everything published
// (names, attributes, closed files) and returns once the commit is in the
// store, or an error after Options.FsyncTimeout.
func (fs *Vault) FsyncDir(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fs.opts.FsyncTimeout)
	defer cancel()
	return fs.commit(ctx)
}

// Usage counts the files and directories of the tree and the files'
// apparent bytes.
func (fs *Vault) Usage() (files, dirs, bytes uint64) { return fs.tree.Stats() }

// ChunkSize is the vault's chunk size in bytes.
func (fs *Vault) ChunkSize() int64 { return fs.cs }

// ReadOnly reports whether the vault was opened read-only.
func (fs *Vault) ReadOnly() bool { return fs.opts.ReadOnly }

// Tree is the metadata tree the vault shows now, for reading only (a
// following vault replaces it with each commit it follows).
func (fs *Vault) Tree() *meta.Tree { return fs.tree }

// Head is the commit the vault shows (loaded, made or followed last); zero
// for a past snapshot.
func (fs *Vault) Head() meta.Head {
	if fs.opts.following() {
		if h := fs.follow.head.Load(); h != nil {
			return *h
		}
	}
	if fs.mlog == nil {
		return meta.Head{}
	}
	return fs.mlog.Head()
}

// Stats is what the engine's budgets and background loops hold and did:
// for diagnostics, and for tests that wait for events instead of
// sleeping.
type Stats struct {
	MemoryLimit, MemoryInUse, MemoryPeak int64 // the write budget, bytes
	PackWaiters                          int   // writers waiting for memory
	UploadsInFlight                      int64 // bytes frozen, not yet uploaded
	StagedObjects, StagedBytes           int64 // waiting on local disk now
	StagedEver                           int64 // objects this vault staged since Open
	Parked                               int64 // partial chunks parked in the staging area since Open (park.go)
	ParkedBytes                          int64 // sealed bytes those parks (and the merges of parked chunks) wrote to local disk
	CommitsDeferred                      int64 // commits deferred: the writer lease was not confirmed lately
	SnapshotTicks                        int64 // snapshot schedule ticks handled
	Polls                                int64 // head polls of a following vault
	DirtyFiles                           int   // files with unpublished data
	Flushes                              int64 // flushes handled (File.Flush, File.TakeError)
	BackgroundPublishes                  int64 // background publishes (after close(2)) queued or running
	GroupedFsyncs                        int64 // fsyncs whose changes another's commit had stored: no commit of their own
	GroupWaits                           int64 // commits for an fsync that began to wait for other fsyncs' uploads (groupwait.go)
	GatheredFsyncs                       int64 // fsyncs whose small file joined a pack another fsync's file opened (packRound)
	GatherWaits                          int64 // fsyncs whose small file waited for others to join its pack (packRound)
	// DedupChunks and DedupBytes count the chunks (and their plaintext
	// bytes) not uploaded since Open because their object was already
	// stored; DedupRefreshed the objects uploaded again to keep a shared
	// one young for prune's grace period (dedup.go).
	DedupChunks, DedupBytes, DedupRefreshed int64
}

// Stats returns the vault's current Stats.
func (fs *Vault) Stats() Stats {
	s := Stats{
		MemoryLimit: fs.budget.limit, MemoryInUse: fs.budget.inUse(), MemoryPeak: fs.budget.peak(),
		PackWaiters: fs.up.pack.waiting(), UploadsInFlight: fs.up.inflight.Load(),
		CommitsDeferred: fs.count.deferred.Load(), SnapshotTicks: fs.count.snapTicks.Load(),
		Polls: fs.count.polls.Load(), DirtyFiles: len(fs.dirtyFiles(false)), Parked: fs.count.parks.Load(), ParkedBytes: fs.count.parkedBytes.Load(),
		Flushes: fs.count.flushes.Load(), BackgroundPublishes: fs.count.bgPublishes.Load(), GroupedFsyncs: fs.count.grouped.Load(),
		GroupWaits: fs.fsyncing.waits.Load(), GatheredFsyncs: fs.packing.gathered.Load(), GatherWaits: fs.packing.waits.Load(),
		DedupChunks: fs.dedup.hits.Load(), DedupBytes: fs.dedup.hitBytes.Load(), DedupRefreshed: fs.dedup.refreshed.Load(),
	}
	if fs.stage != nil {
		n, b := fs.stage.pending()
		s.StagedObjects, s.StagedBytes = int64(n), b
		s.StagedEver = fs.stage.held.Load()
	}
	return s
}

// MountOptions are what a front door that mounts the vault needs from
// its Options.
func (fs *Vault) MountOptions() (allowOther, debug bool) { return fs.opts.AllowOther, fs.opts.Debug }

// KernelCacheTimeout, when positive, replaces the kernel's entry and
// attribute cache timeouts of a following vault (tests set it through
// Tuning to prove that following invalidates the caches).
func (fs *Vault) KernelCacheTimeout() time.Duration { return fs.opts.Tuning.FollowCacheTimeout }
