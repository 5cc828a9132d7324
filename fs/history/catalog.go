package history

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// ErrNoSnapshot means no snapshot in the catalog has the given id.
var ErrNoSnapshot = errors.New("history: no such snapshot")

// Options configure a Catalog. The zero value works.
type Options struct {
	Rand   io.Reader    // nil = crypto/rand
	Logger *slog.Logger // nil = discard
	// CheckHead, when set, is called with the current head whenever Check
	// or Prune loads it, before its chain is read (this device's rollback
	// check: see meta.LogOptions.CheckHead); its error stops them.
	CheckHead func(meta.Head) error
}

// Catalog is the list of named snapshots of one vault in a store.
type Catalog struct {
	s         remote.Store
	k         *crypt.Keys
	rnd       io.Reader
	log       *slog.Logger
	checkHead func(meta.Head) error
}

// New returns the catalog of the vault in s.
func New(s remote.Store, k *crypt.Keys, opts Options) *Catalog {
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Catalog{s: s, k: k, rnd: opts.Rand, log: opts.Logger, checkHead: opts.CheckHead}
}

// Record names the full snapshot that l's head builds on (call it right
// after l.Snapshot, with commits held off) as a new catalog entry. files and
// bytes are counted from t.
func (c *Catalog) Record(ctx context.Context, l *meta.Log, t *meta.Tree) (Snapshot, error) {
	h := l.Head()
	if h.Batches != 0 {
		return Snapshot{}, fmt.Errorf("history: record: head %d is not a full snapshot (%d journal batches after it)", h.Seq, h.Batches)
	}
	files, _, nbytes := t.Stats()
	s := Snapshot{Time: h.Time, Device: h.Device, Files: files, Bytes: nbytes, Tree: l.SnapshotRef()}
	for range 8 {
		id, err := c.newID(ctx)
		if err != nil {
			return Snapshot{}, err
		}
		s.ID, s.Key = id, layout.SnapshotKey(s.Tree.Seq, id)
		sealed, err := crypt.SealRecord(c.rnd, c.k.Meta, crypt.KindSnapIndex, s.Tree.Seq, encodeRecord(&s))
		if err != nil {
			return Snapshot{}, fmt.Errorf("history: seal snapshot %s: %w", id, err)
		}
		_, err = c.s.Put(ctx, s.Key, sealed, remote.PutOptions{IfNoneMatch: true})
		if errors.Is(err, remote.ErrPrecondition) {
			continue // the same seq and id: draw another id
		}
		if err != nil {
			return Snapshot{}, fmt.Errorf("history: record snapshot of commit %d: %w", s.Tree.Seq, err)
		}
		c.log.Debug("history: snapshot recorded", "id", id, "seq", s.Tree.Seq)
		return s, nil
	}
	return Snapshot{}, errors.New("history: record: no free snapshot id after 8 tries")
}

// newID draws an id no catalog entry has.
func (c *Catalog) newID(ctx context.Context) (string, error) {
	taken := map[string]bool{}
	err := c.s.List(ctx, layout.SnapshotPrefix, func(o remote.ObjectInfo) error {
		if _, id, ok := layout.ParseSnapshotKey(o.Key); ok {
			taken[id] = true
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("history: list %s: %w", layout.SnapshotPrefix, err)
	}
	var b [layout.SnapshotIDLen / 2]byte
	for {
		if _, err := io.ReadFull(c.rnd, b[:]); err != nil {
			return "", fmt.Errorf("history: random id: %w", err)
		}
		if id := hex.EncodeToString(b[:]); !taken[id] {
			return id, nil
		}
	}
}

// Bad is a catalog entry that cannot be trusted: it failed authentication,
// does not decode, or is a key sealfs does not write under "snapshots/".
type Bad struct {
	Key string
	Err error
}

// ListAll returns every snapshot whose record authenticates, oldest first
// (by commit seq), and the entries that do not. err is a store failure.
func (c *Catalog) ListAll(ctx context.Context) (snaps []Snapshot, bad []Bad, err error) {
	var keys []string
	err = c.s.List(ctx, layout.SnapshotPrefix, func(o remote.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("history: list %s: %w", layout.SnapshotPrefix, err)
	}
	for _, key := range keys {
		sealed, _, err := c.s.Get(ctx, key)
		switch {
		case errors.Is(err, remote.ErrNotFound):
			continue // forgotten meanwhile
		case err != nil:
			return nil, nil, fmt.Errorf("history: read %s: %w", key, err)
		}
		s, err := openRecord(c.k, key, sealed)
		if err != nil {
			bad = append(bad, Bad{Key: key, Err: err})
			continue
		}
		snaps = append(snaps, *s)
	}
	slices.SortStableFunc(snaps, func(a, b Snapshot) int {
		if a.Tree.Seq != b.Tree.Seq {
			return compare(a.Tree.Seq, b.Tree.Seq)
		}
		return a.Time.Compare(b.Time)
	})
	return snaps, bad, nil
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// List is ListAll that fails (wrapping crypt.ErrAuth, naming the key) if
// any entry cannot be trusted.
func (c *Catalog) List(ctx context.Context) ([]Snapshot, error) {
	snaps, bad, err := c.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("history: %d damaged catalog entries (first %s): %w", len(bad), bad[0].Key, bad[0].Err)
	}
	return snaps, nil
}

// Get returns the snapshot with the given id (ErrNoSnapshot if none).
func (c *Catalog) Get(ctx context.Context, id string) (Snapshot, error) {
	snaps, bad, err := c.ListAll(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	for _, s := range snaps {
		if s.ID == id {
			return s, nil
		}
	}
	for _, b := range bad {
		if _, bid, ok := layout.ParseSnapshotKey(b.Key); ok && bid == id {
			return Snapshot{}, fmt.Errorf("history: snapshot %s: %w", id, b.Err)
		}
	}
	return Snapshot{}, fmt.Errorf("%w: %q", ErrNoSnapshot, id)
}

// Open loads the tree of snapshot id, verified, for reading.
func (c *Catalog) Open(ctx context.Context, id string) (*meta.Tree, Snapshot, error) {
	s, err := c.Get(ctx, id)
	if err != nil {
		return nil, Snapshot{}, err
	}
	t, err := meta.OpenSnapshot(ctx, c.s, c.k, s.Tree)
	if err != nil {
		return nil, s, fmt.Errorf("history: snapshot %s: %w", id, err)
	}
	return t, s, nil
}

// Forget deletes the catalog entries of the given ids (or, for an entry
// that does not authenticate, its key under "snapshots/"). It checks every
// id first and deletes nothing if one is unknown. The objects the snapshots
// used stay until Prune.
func (c *Catalog) Forget(ctx context.Context, ids ...string) ([]Snapshot, error) {
	snaps, bad, err := c.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	var gone []Snapshot
	for _, id := range ids {
		i := slices.IndexFunc(snaps, func(s Snapshot) bool { return s.ID == id })
		j := slices.IndexFunc(bad, func(b Bad) bool { return b.Key == id })
		switch {
		case i >= 0:
			keys, gone = append(keys, snaps[i].Key), append(gone, snaps[i])
		case j >= 0:
			keys = append(keys, bad[j].Key)
		default:
			return nil, fmt.Errorf("%w: %q", ErrNoSnapshot, id)
		}
	}
	if err := c.s.DeleteMany(ctx, keys); err != nil {
		return nil, fmt.Errorf("history: forget: %w", err)
	}
	return gone, nil
}

// TreeKeys returns the store keys of the meta snapshots the catalog names,
// for meta.Log.CleanupKeep: a writer's cleanup must keep them. It fails if
// an entry is damaged (what it names is unknown, so nothing is safe to
// clean up).
func (c *Catalog) TreeKeys(ctx context.Context) (map[string]bool, error) {
	snaps, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	keys := make(map[string]bool, len(snaps))
	for _, s := range snaps {
		keys[s.Tree.Key] = true
	}
	return keys, nil
}
