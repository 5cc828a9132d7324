package vault

import (
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote"
)

// Defaults used for zero Options fields.
const (
	DefaultCommitInterval = 5 * time.Second
	DefaultMemoryBudget   = 48 << 20
	DefaultUploads        = 8
	DefaultFsyncTimeout   = 60 * time.Second
	DefaultReadCache      = 64 << 20
)

// Options configure an FS. The zero value of every field but Store and
// Keys works.
type Options struct {
	// Store holds the vault. A read-write FS writes it conditionally (the
	// head compare-and-swap): give it a store that passed
	// remote.SelfTestConditional, which for S3 also sets the If-Match form
	// the store compares (sealfs mount does; Ceph RGW needs it).
	Store remote.Store
	Keys  *crypt.Keys
	// CacheDir is this vault's local directory on this device. It only ever
	// holds ciphertext; "" means the FS uses no local disk.
	CacheDir string
	// Device is the device name recorded in commits.
	Device   string
	ReadOnly bool
	// CommitInterval is how often published changes are committed (0 = 5s).
	CommitInterval time.Duration
	// MemoryBudget bounds dirty plaintext held in memory (0 = 48 MiB; at
	// least four chunks and four MaxWrite). Writers block while it is
	// exhausted, until uploads free memory.
	MemoryBudget int64
	// Uploads is the number of parallel uploads (0 = 8).
	Uploads int
	// FsyncTimeout bounds how long fsync waits for data and commit (0 = 60s);
	// past it fsync fails with EIO.
	FsyncTimeout time.Duration
	// Compress seals chunks that shrink as zstd frames (format 4,
	// compress.go); off, every chunk is sealed as it is. Compressed
	// sizes say more about content than padded ones (docs/SECURITY.md),
	// so it is the user's choice (sealfs mount --compress). Readers
	// follow extents either way.
	Compress bool
	// ReadCache bounds the decrypted segments kept in memory (0 = 64 MiB).
	ReadCache int64
	// StageBudget bounds the sealed bytes staged in CacheDir while they
	// wait for upload (0 = 4 GiB; at most half the free disk space). Past
	// it, data waits in memory under MemoryBudget (see fs/staging.go).
	StageBudget int64
	// OutageTimeout is how long unmount keeps waiting for a store that
	// takes no data before it gives up and leaves the changes staged in
	// CacheDir for the next mount (0 = FsyncTimeout).
	OutageTimeout time.Duration
	AllowOther    bool
	// MountID identifies this mount instance in commits and in the writer
	// lease ("" = random). Give the lease and the FS the same one.
	MountID string
	// CheckHead, when set, is this device's rollback check (its sealed
	// local high-water mark, fs/localstate): Open calls it with exactly
	// the head it loads, and a following mount with every newer head
	// before showing it. An error refuses that head (the bucket was rolled
	// back, forked, or serves a stale view).
	CheckHead func(meta.Head) error
	// SeenMount and SeenSeq are the highest commit this device had seen
	// before this open (its local high-water mark; "" and 0 if none).
	// Recovery takes an intent log as obsolete when its own writer
	// committed after the intent's base: everything it named is in that
	// commit, whatever the store's head says now (an intent whose
	// removal a power cut undid: stage.Dir.RemoveIntent).
	SeenMount string
	SeenSeq   uint64
	// Lease, when set, is checked before every commit: a writer that lost
	// its lease must not commit. A failed check fences the mount (EROFS)
	// like a head changed by another writer.
	Lease interface{ Check() error }
	// OnCommit, when set, is called with the head after Open loads it,
	// after every commit this mount makes and, on a read-only mount, after
	// every newer commit it follows (to keep the local high-water mark).
	// It must not block for long.
	OnCommit func(meta.Head)
	// SnapshotEvery, when positive, takes a named snapshot (fs/history)
	// this often while mounted read-write, skipping it when nothing
	// changed. Every clean unmount takes one anyway.
	SnapshotEvery time.Duration
	// Snapshot, when set, opens the past snapshot with this id read-only
	// instead of the current head: no commits, no following.
	Snapshot string
	// FollowInterval is how often a read-only mount polls the head for
	// the writer's new commits and then shows them (0 = 2s; negative =
	// never: the mount shows the commit it opened).
	FollowInterval time.Duration
	Logger         *slog.Logger // nil = discard
	Rand           io.Reader    // nil = crypto/rand
	Debug          bool         // go-fuse debug output

	stageDir *stage.Dir // set by Open for a read-write FS with a CacheDir
	// Tuning holds internal delays; leave it zero (the defaults). Tests
	// set it to drive time instead of sleeping.
	Tuning Tuning
}

// Tuning holds the engine's internal delays. They are not options a user
// sets: they exist so that tests drive time (an hour-long pack linger, an
// upload that is never "slow") instead of sleeping and hoping. Zero fields
// take the defaults below.
type Tuning struct {
	// PackLinger is how long a small version waits for others to share
	// its object when nothing needs it sooner (pack.go).
	PackLinger time.Duration
	// StageAfter is how long an upload from memory may run before its
	// object is also written to the staging area, so that a crash or an
	// outage that begins now cannot lose it (upload.go).
	StageAfter time.Duration
	// DirectPutTimeout bounds one upload from memory (the S3 store
	// retries transient errors within it) before the stager takes the
	// object over.
	DirectPutTimeout time.Duration
	// UploadBackoffMax caps the wait between attempts of one staged
	// upload (staging.go).
	UploadBackoffMax time.Duration
	// PollTimeout and LoadTimeout bound one poll of a following mount, so
	// that a request that hangs cannot stop following: checking and
	// reading the head is small; loading a tree may be large.
	PollTimeout, LoadTimeout time.Duration
	// followCacheTimeout, when set, replaces the kernel's entry and
	// attribute cache timeouts on a following mount (0: the usual ones).
	// Set to hours, it proves that following invalidates the kernel's
	// caches instead of waiting for them to expire.
	FollowCacheTimeout time.Duration
	// GroupCommitWait, when set, is how long a commit made for an fsync
	// waits for other fsyncs still uploading their data, so that it holds
	// them too (0: as long as the last such commit took, at most 250 ms;
	// groupwait.go).
	GroupCommitWait time.Duration
	// PackGather is how long at most the fsync of a small file waits for
	// the other writers' fsyncs it expects to share its pack
	// (packRound; 5 ms).
	PackGather time.Duration
	// ChunkPiece, when set, replaces what a chunk buffer allocates at a
	// time (chunkbuf.go; at most the chunk size). Tests of parking set it
	// to the chunk size: every buffer then costs a whole chunk, so memory
	// runs short after a few writes.
	ChunkPiece int64
}

var defaultTuning = Tuning{
	PackLinger:       50 * time.Millisecond,
	PackGather:       5 * time.Millisecond,
	StageAfter:       time.Second,
	DirectPutTimeout: 2 * time.Minute,
	UploadBackoffMax: 5 * time.Second,
	PollTimeout:      30 * time.Second,
	LoadTimeout:      10 * time.Minute,
}

func (t Tuning) withDefaults() Tuning {
	d := defaultTuning
	for _, f := range []struct{ v, def *time.Duration }{
		{&t.PackLinger, &d.PackLinger}, {&t.PackGather, &d.PackGather}, {&t.StageAfter, &d.StageAfter},
		{&t.DirectPutTimeout, &d.DirectPutTimeout}, {&t.UploadBackoffMax, &d.UploadBackoffMax},
		{&t.PollTimeout, &d.PollTimeout}, {&t.LoadTimeout, &d.LoadTimeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return t
}

// withDefaults returns o with zero fields replaced by their defaults.
func (o Options) withDefaults() Options {
	if o.CommitInterval <= 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	if o.Uploads <= 0 {
		o.Uploads = DefaultUploads
	}
	if o.FsyncTimeout <= 0 {
		o.FsyncTimeout = DefaultFsyncTimeout
	}
	if o.StageBudget <= 0 {
		o.StageBudget = DefaultStageBudget
	}
	if o.OutageTimeout <= 0 {
		o.OutageTimeout = o.FsyncTimeout
	}
	if o.ReadCache <= 0 {
		o.ReadCache = DefaultReadCache
	}
	if o.FollowInterval == 0 {
		o.FollowInterval = DefaultFollowInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MountID == "" {
		o.MountID = newMountID()
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	o.Tuning = o.Tuning.withDefaults()
	if _, ok := o.Store.(*remote.Retry); !ok && o.Store != nil {
		// One retry policy, the store wrapper's, outermost: every call the
		// engine makes is retried there (with more persistence where a
		// call asks for it, remote.WithCallRetry), never again by the
		// engine itself.
		o.Store = remote.WithRetry(o.Store, remote.RetryOptions{MaxDelay: o.Tuning.UploadBackoffMax, Logger: o.Logger})
	}
	return o
}
