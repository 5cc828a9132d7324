package meta

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// ErrFenced means another writer replaced head since we last read it: this
// Log must stop committing (its pending changes are kept in the Tree).
var ErrFenced = errors.New("meta: head changed by another writer")

// ErrRollback means head is older than, or forks from, a commit this
// device has already seen: a LogOptions.CheckHead refused it
// (fs/localstate's RollbackError matches it).
var ErrRollback = errors.New("meta: head is older than one this device has seen (rollback or stale view)")

// Open returns remote.ErrNotFound (wrapped) when there is no head, which is
// how the caller tells "no vault here" from a damaged one.

// DefaultSnapshotEvery is the number of journal batches after which a
// commit compacts the journal (see LogOptions.SnapshotEvery).
const DefaultSnapshotEvery = 64

// DefaultCleanupGrace is how old an unreferenced metadata object must be
// before Cleanup deletes it.
const DefaultCleanupGrace = time.Hour

// LogOptions configure a Log. The zero value works (Rand = crypto/rand,
// Logger discards, sensible snapshot cadence).
type LogOptions struct {
	Device  string
	MountID string
	Rand    io.Reader
	Logger  *slog.Logger
	// SnapshotEvery bounds the journal: a commit that finds this many
	// batches after the checkpoint compacts them (0 = default). It merges
	// the newest batches with its own into one batch, at a cost that
	// depends on what changed since the checkpoint, not on the size of the
	// tree; or, when that merge would cost more than half a checkpoint,
	// writes a full checkpoint instead (docs/FORMAT.md, "Compacting the
	// journal"). A checkpoint is also written when the journal outgrows the
	// last one.
	SnapshotEvery int
	// mergeAlways compacts by merging even where a checkpoint would be
	// cheaper (tests of merged batches on small trees).
	mergeAlways bool
	// CleanupGrace protects unreferenced metadata objects younger than this
	// from Cleanup (0 = DefaultCleanupGrace), so that the fresh uploads of
	// a commit in flight elsewhere are never deleted.
	CleanupGrace time.Duration
	// CheckHead, when set, is called with the head Open is about to load,
	// once it authenticated and before anything else is read; its error
	// stops Open. Callers pass the device's rollback check against its
	// high-water mark (fs/localstate), so that the head checked is exactly
	// the head loaded: a bucket cannot show one head to the check and
	// another to the load.
	CheckHead func(Head) error
	// NoInline stores every journal batch as an object, as format 1 did
	// (tests of batch objects; the default carries small ones in head).
	NoInline bool
}

func (o LogOptions) withDefaults() LogOptions {
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = DefaultSnapshotEvery
	}
	if o.CleanupGrace <= 0 {
		o.CleanupGrace = DefaultCleanupGrace
	}
	return o
}

// Log persists a Tree in a Store: sealed snapshots plus sealed,
// hash-chained journal batches; "head" names the latest and is replaced only
// by compare-and-swap, which is the commit point.
type Log struct {
	s    remote.Store
	k    *crypt.Keys
	opts LogOptions

	mu sync.Mutex // serialises Commit, Snapshot and Cleanup

	hmu       sync.Mutex // guards head for Head() during a commit
	head      headRecord
	etag      string // of head as we last wrote or read it
	snapBytes int    // sealed size of the current snapshot
	sizes     []int  // sealed size of each journal batch of head
	// bodies keeps the sealed bytes of journal batch objects of head
	// (by seq) that this Log wrote or loaded, up to maxKeptBodies bytes,
	// so that merging them (compact.go) needs no GET.
	bodies map[uint64][]byte
	fenced bool
	doubt  *doubt // a head put whose outcome we do not know
}

// Head returns the last head this Log read or wrote.
func (l *Log) Head() Head {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	return l.head.public()
}

// Create writes the first snapshot (of whatever t holds, usually just the
// root) and head with a create-only put. It fails (wrapping
// remote.ErrPrecondition) if head exists.
func Create(ctx context.Context, s remote.Store, k *crypt.Keys, t *Tree, opts LogOptions) (*Log, error) {
	if t.chunk != k.ChunkSize {
		return nil, fmt.Errorf("meta: create: tree chunk size %d, vault %d", t.chunk, k.ChunkSize)
	}
	l := &Log{s: s, k: k, opts: opts.withDefaults()}
	if _, err := l.commit(ctx, t, true); err != nil {
		return nil, fmt.Errorf("meta: create: %w", err)
	}
	return l, nil
}

// Open loads head, its snapshot and the journal after it, verifying every
// hash and seal; any failure is an error (crypt.ErrAuth wrapped for
// tampering, remote.ErrNotFound for a missing object, the key in the
// message), never a partial tree.
func Open(ctx context.Context, s remote.Store, k *crypt.Keys, opts LogOptions) (*Tree, *Log, error) {
	h, _, info, err := readHead(ctx, s, k)
	if err != nil {
		return nil, nil, fmt.Errorf("meta: open: %w", err)
	}
	if opts.CheckHead != nil {
		if err := opts.CheckHead(h.public()); err != nil {
			return nil, nil, fmt.Errorf("meta: open: %w", err)
		}
	}
	l := &Log{s: s, k: k, opts: opts.withDefaults(), head: *h, etag: info.ETag}
	t := newEmptyTree(k.ChunkSize)
	prev := h.snapshot.hash
	for i, r := range append([]ref{h.snapshot}, h.journal...) {
		kind := crypt.KindJournal
		if i == 0 {
			kind = crypt.KindSnapshot
		}
		size, body, err := l.load(ctx, t, kind, r, prev)
		if err != nil {
			return nil, nil, fmt.Errorf("meta: open: %w", err)
		}
		if i == 0 {
			l.snapBytes = size
		} else {
			l.sizes = append(l.sizes, size)
			l.keepBody(r, body)
		}
		prev = r.hash
	}
	if err := t.finishLoad(h.nextIno, true); err != nil {
		return nil, nil, fmt.Errorf("meta: open: %w: %w", crypt.ErrAuth, err)
	}
	return t, l, nil
}

// load reads one checkpoint or journal batch (verified as readBatch
// does) and applies it to t op by op as it is decoded. It returns the
// size of its sealed bytes, and for a journal batch the bytes (a
// checkpoint's are let go before its ops are applied: 10 MB for a million
// files).
func (l *Log) load(ctx context.Context, t *Tree, kind crypt.RecordKind, r ref, prev [32]byte) (size int, body []byte, err error) {
	sealed, err := l.fetch(ctx, kind, r)
	if err != nil {
		return 0, nil, err
	}
	d, err := openBatchDecoder(l.k, kind, r, sealed)
	if err != nil {
		return 0, nil, err
	}
	if err := checkLink(kind, d.b, r, prev); err != nil {
		return 0, nil, err
	}
	size = len(sealed)
	if kind == crypt.KindJournal {
		body = sealed
	}
	err = t.applyDecoded(d)
	if err == nil {
		err = d.finish()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w: %w", r.name(), crypt.ErrAuth, err)
	}
	return size, body, nil
}

// readBatch fetches one checkpoint or journal batch (from the head when
// inline, from the bodies this Log kept, else from the store) and verifies
// it against r (hash, seal, kind, seq) and, for a journal batch, its chain
// link against prev. It returns the batch and its sealed bytes.
func (l *Log) readBatch(ctx context.Context, kind crypt.RecordKind, r ref, prev [32]byte) (*batch, []byte, error) {
	sealed, err := l.fetch(ctx, kind, r)
	if err != nil {
		return nil, nil, err
	}
	b, err := openBatch(l.k, kind, r, sealed)
	if err != nil {
		return nil, nil, err
	}
	if err := checkLink(kind, b, r, prev); err != nil {
		return nil, nil, err
	}
	return b, sealed, nil
}

// fetch returns the sealed bytes of batch r: from the head when inline,
// from the bodies this Log kept, else from the store.
func (l *Log) fetch(ctx context.Context, kind crypt.RecordKind, r ref) ([]byte, error) {
	sealed := []byte(r.inline)
	if r.inline == "" && kind == crypt.KindJournal {
		sealed = l.bodies[r.seq]
	}
	if len(sealed) == 0 {
		var err error
		if sealed, _, err = l.s.Get(ctx, r.key); err != nil {
			return nil, fmt.Errorf("read %s: %w", r.key, err)
		}
	}
	return sealed, nil
}

// checkLink checks a journal batch's link to the batch before it (prev).
func checkLink(kind crypt.RecordKind, b *batch, r ref, prev [32]byte) error {
	if kind == crypt.KindJournal && b.prev != prev {
		return fmt.Errorf("%s: broken hash chain: %w", r.name(), crypt.ErrAuth)
	}
	return nil
}

// name names r in messages: its key, or the inline batch of its commit.
func (r ref) name() string {
	if r.inline != "" {
		return fmt.Sprintf("inline batch of commit %d", r.seq)
	}
	return r.key
}
