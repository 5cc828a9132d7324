package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// Identical content is stored once (format 3, docs/FORMAT.md "Content
// ids"). A chunk object's id is the keyed hash of its plaintext as sealed
// (crypt.ContentObjectID), so identical chunks get one id and sealing one
// again gives the same bytes. Before a chunk is uploaded, its id is looked
// up: if the tree already references that object (any file, any folder,
// loaded from any earlier mount), or this mount stored it, the chunk's
// extent references it and nothing is uploaded. Two versions of the same
// content sealed at once share one upload (flights). Packs of small files
// and parked partial chunks keep random ids: their plaintext is a mix, or
// not final.
//
// What keeps prune exact: prune deletes an unreferenced object only when
// it is older than its grace period (history.DefaultGrace), which is what
// protects a crashed writer's pending commit, replayed at its restart,
// whose uploads are young. A deduplicated reference can name an old
// object, so the writer keeps this rule true for it: when a publish makes
// a reference to an object that no other extent of the tree references
// any more (meta.Tree.SetFileDataShared says so, under the tree's lock),
// and this mount did not store that object recently (dedupFresh), the
// object is uploaded again, byte for byte (it is deterministic), before
// the next intent log names the reference (saveIntent) and so before any
// commit does. Every other deduplicated reference has an older reference
// that is committed, or pending ahead of it in the same journal (pending
// ops commit in order), so prune's mark from the head sees the object.
type dedup struct {
	fs *Vault

	mu      sync.Mutex
	own     map[crypt.ObjectID]int64   // content objects this mount stored: Unix ns
	flights map[crypt.ObjectID]*flight // content objects being stored now
	refresh map[crypt.ObjectID]bool    // to upload again before the next intent

	hits      atomic.Int64 // chunks not uploaded: their object was already there
	hitBytes  atomic.Int64 // their plaintext bytes
	refreshed atomic.Int64 // objects uploaded again (see refreshAll)
}

// dedupFresh is how recently this mount must have stored an object for a
// new reference to it to need no refresh: well inside prune's default
// grace period of an hour (history.DefaultGrace; TestDedupFreshInsideGrace).
const dedupFresh = 30 * time.Minute

// flight is one upload of a content object that others wait for.
type flight struct {
	done chan struct{}
	err  error
}

func newDedup(fs *Vault) *dedup {
	return &dedup{fs: fs, own: make(map[crypt.ObjectID]int64), flights: make(map[crypt.ObjectID]*flight),
		refresh: make(map[crypt.ObjectID]bool)}
}

// lookup says whether content object id is already stored (hit), or
// returns the flight to wait for when someone is storing it now, or (both
// zero) makes the caller the one who stores it: it must call landed.
func (d *dedup) lookup(id crypt.ObjectID) (hit bool, wait *flight) {
	if d.fs.tree.Referenced(id) {
		return true, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.own[id]; ok {
		return true, nil
	}
	if f := d.flights[id]; f != nil {
		return false, f
	}
	d.flights[id] = &flight{done: make(chan struct{})}
	return false, nil
}

// landed ends the store of content object id that lookup gave the caller.
func (d *dedup) landed(id crypt.ObjectID, err error) {
	d.mu.Lock()
	f := d.flights[id]
	delete(d.flights, id)
	if err == nil {
		d.own[id] = time.Now().UnixNano()
	}
	d.mu.Unlock()
	f.err = err
	close(f.done)
}

// hit counts a chunk of n plaintext bytes that was not uploaded.
func (d *dedup) hit(n int64) {
	d.hits.Add(1)
	d.hitBytes.Add(n)
}

// published takes the objects a publish referenced without uploading them
// and that no other extent of the tree referenced (SetFileDataShared):
// those this mount did not store recently are uploaded again before the
// next intent log.
func (d *dedup) published(unreferenced []crypt.ObjectID) {
	if len(unreferenced) == 0 || d.fs.stage == nil {
		return // without a staging area no intent log outlives a crash
	}
	now := time.Now().UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range unreferenced {
		if t, ok := d.own[id]; !ok || now-t > int64(dedupFresh) {
			d.refresh[id] = true
		}
	}
}

// refreshAll uploads again, byte for byte, each object published as the
// tree's only reference and not stored lately (published), so that prune's
// grace period protects it while only a pending commit names it. It is
// called before every intent write; a failure is logged and the object
// stays queued (the next intent write tries again; a commit that lands
// makes the refresh unneeded: committed).
func (d *dedup) refreshAll(ctx context.Context) {
	d.mu.Lock()
	ids := make([]crypt.ObjectID, 0, len(d.refresh))
	for id := range d.refresh {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	for _, id := range ids {
		if err := d.refreshOne(ctx, id); err != nil {
			d.fs.log.Error("cannot upload a shared object again; a crash before the next commit could let prune delete it",
				"object", id.String(), "err", err)
			continue
		}
		d.refreshed.Add(1)
		d.mu.Lock()
		delete(d.refresh, id)
		d.own[id] = time.Now().UnixNano()
		d.mu.Unlock()
	}
}

func (d *dedup) refreshOne(ctx context.Context, id crypt.ObjectID) error {
	st := d.fs.opts.Store
	if s := d.fs.stage; s != nil {
		if !s.uploaded([]crypt.ObjectID{id}) {
			return nil // still staged here: its upload is to come, and young
		}
		st = s.store
	}
	once := remote.WithCallRetry(ctx, remote.CallRetry{MaxAttempts: 2})
	ctx, cancel := context.WithTimeout(once, d.fs.opts.Tuning.DirectPutTimeout)
	defer cancel()
	key := layout.DataKey(id)
	sealed, _, err := st.Get(ctx, key)
	if errors.Is(err, remote.ErrNotFound) {
		return fmt.Errorf("it is gone from the store: the files that share it read as damaged (see 'sealfs check')")
	}
	if err != nil {
		return err
	}
	// Only an object that opens is put back: the store's bytes must not
	// replace what the id stands for.
	if _, err := crypt.OpenObject(d.fs.opts.Keys, id, sealed); err != nil {
		return err
	}
	_, err = st.Put(ctx, key, sealed, remote.PutOptions{})
	return err
}

// committed forgets the refreshes a commit made unneeded: every reference
// published before it is in the head now. The caller holds applyGate for
// writing across the commit, so no publish came in between.
func (d *dedup) committed() {
	d.mu.Lock()
	clear(d.refresh)
	d.mu.Unlock()
}
