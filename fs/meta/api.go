package meta

// API SKELETON written by the lead so that fs/ (FUSE nodes and data path) can
// be written in parallel with this package. The meta implementer replaces the
// bodies (and splits this file by topic), keeping every exported name and
// signature below. Additions are fine; changes must be agreed with the lead.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// ErrFenced means another writer replaced head since we last read it: this
// Log must stop committing (its pending changes are kept in the Tree).
var ErrFenced = errors.New("meta: head changed by another writer")

// ErrNoVault... is for the caller; Open returns remote.ErrNotFound (wrapped)
// when there is no head.

// Head describes the commit head names.
type Head struct {
	Seq     uint64    // commit sequence number, +1 per commit
	Time    time.Time // when it was committed (writer's clock)
	Device  string    // writer's device name
	MountID string    // writer's mount instance
}

// LogOptions configure a Log. The zero value works (Rand = crypto/rand,
// Logger discards, sensible snapshot cadence).
type LogOptions struct {
	Device  string
	MountID string
	Rand    io.Reader
	Logger  *slog.Logger
	// SnapshotEvery writes a full snapshot instead of a journal batch after
	// this many batches since the last snapshot (0 = default).
	SnapshotEvery int
}

// Log persists a Tree in a Store: sealed snapshots plus sealed,
// hash-chained journal batches; "head" names the latest and is replaced only
// by compare-and-swap, which is the commit point.
type Log struct{}

// Create writes the first (empty) snapshot and head with a create-only put.
// It fails (wrapping remote.ErrPrecondition) if head exists.
func Create(ctx context.Context, s remote.Store, k *crypt.Keys, t *Tree, opts LogOptions) (*Log, error) {
	panic("todo")
}

// Open loads head, its snapshot and the journal after it, verifying every
// hash and seal; any failure is an error (crypt.ErrAuth wrapped for
// tampering), never a partial tree.
func Open(ctx context.Context, s remote.Store, k *crypt.Keys, opts LogOptions) (*Tree, *Log, error) {
	panic("todo")
}

// Commit seals the Tree's pending changes as one journal batch (or a full
// snapshot when due), puts it, then swaps head with If-Match. If anything
// fails the changes stay pending in the Tree for the next Commit. A refused
// swap returns ErrFenced. Commits are serialised; nothing pending is a no-op.
func (l *Log) Commit(ctx context.Context, t *Tree) (Head, error) { panic("todo") }

// Snapshot commits everything pending as a full snapshot.
func (l *Log) Snapshot(ctx context.Context, t *Tree) (Head, error) { panic("todo") }

// Head returns the last head this Log read or wrote.
func (l *Log) Head() Head { panic("todo") }

// ReadHead reads and opens the current head without loading the tree (for
// info and read-only followers polling for changes).
func ReadHead(ctx context.Context, s remote.Store, k *crypt.Keys) (Head, error) { panic("todo") }
