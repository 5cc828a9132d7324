package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// Commit seals the Tree's pending changes as one journal batch (or a full
// snapshot when due), puts it, then swaps head with If-Match. If anything
// fails the changes stay pending in the Tree for the next Commit. A refused
// swap returns ErrFenced. Commits are serialised; nothing pending is a no-op.
func (l *Log) Commit(ctx context.Context, t *Tree) (Head, error) { return l.commit(ctx, t, false) }

// Snapshot commits everything pending as a full snapshot (also when nothing
// is pending, to compact the journal).
func (l *Log) Snapshot(ctx context.Context, t *Tree) (Head, error) { return l.commit(ctx, t, true) }

// doubt is a head put whose outcome is unknown: it returned an error and
// reading head back failed too (a timeout, a dropped connection, a cancelled
// ctx). The put may have landed. Its ops were put back in front of the
// Tree's pending list, so the next commit must first find out: if head now
// holds exactly these sealed bytes (random nonce: nobody else can produce
// them) the commit happened and those ops must not be committed twice.
type doubt struct {
	sealed   []byte
	rec      headRecord
	nops     int
	size     int
	snapshot bool
	keep     int    // journal entries of the old head kept before the new one
	body     []byte // the sealed batch, when it is an object (for merging)
}

// headState is what reading head back after a failed put tells.
type headState int

const (
	headLanded    headState = iota // holds the bytes we tried to put
	headUnchanged                  // still the head we built on
	headMoved                      // someone else's head
)

func (l *Log) commit(ctx context.Context, t *Tree, snapshot bool) (Head, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fenced {
		return l.Head(), ErrFenced
	}
	if l.doubt != nil {
		if err := l.resolve(ctx, t); err != nil {
			return l.Head(), err
		}
	}
	if !snapshot && !t.Dirty() {
		return l.Head(), nil
	}
	snapshot = snapshot || l.sizeFrom(0) > max(l.snapBytes, minJournalBytes)
	// keep is how many entries of the journal stay before this commit's
	// batch; fewer than all when it merges the newest ones (compact.go).
	keep := len(l.head.journal)
	var old []*op
	if !snapshot && keep >= l.opts.SnapshotEvery {
		from := l.mergeFrom()
		if len(l.sizes) != keep || 2*l.sizeFrom(from) > l.snapBytes && !l.opts.mergeAlways {
			// Sizes unknown (not a Log that Open or Create made; the
			// checkpoint needs none), or a merge costing more than half a
			// checkpoint.
			snapshot = true
		} else if o, err := l.readJournal(ctx, from); err != nil {
			// A batch that cannot be read back or fails verification is
			// not re-sealed: the checkpoint is written from the tree in
			// memory instead, as before merging existed, which also takes
			// a damaged batch out of the chain.
			l.opts.Logger.Warn("meta: cannot merge journal batches, writing a checkpoint instead", "err", err)
			snapshot = true
		} else {
			keep, old = from, o
		}
	}
	seq := l.head.seq + 1
	var ops []*op
	var payload []byte // the batch's zstd frame
	var next Ino
	if snapshot {
		// Taking the ops and encoding the state must be one atomic step:
		// an op landing in between would be in the snapshot and pending.
		t.mu.Lock()
		ops, next = t.pend.ops, t.next
		t.pend = journal{}
		var err error
		payload, err = t.compressSnapshotLocked(seq, l.k.Suite)
		if err != nil {
			t.pend = journal{ops: ops}
			t.mu.Unlock()
			return l.Head(), fmt.Errorf("meta: commit %d: %w", seq, err)
		}
		t.mu.Unlock()
	} else {
		ops, next = t.takePending()
		if len(ops) == 0 {
			return l.Head(), nil
		}
		list := ops
		if old != nil {
			list = mergeOps(old, ops)
		}
		payload = compressBatch(encodeBatch(nil, &batch{kind: crypt.KindJournal, seq: seq, prev: l.chainTip(keep), ops: list}))
	}
	h, err := l.publish(ctx, t, ops, snapshot, keep, seq, payload, next)
	if err != nil {
		return h, fmt.Errorf("meta: commit %d: %w", seq, err)
	}
	return h, nil
}

// chainTip is the hash a journal batch that follows the first keep entries
// of the journal links to.
func (l *Log) chainTip(keep int) [32]byte {
	if keep > 0 {
		return l.head.journal[keep-1].hash
	}
	return l.head.snapshot.hash
}

// publish uploads one batch or snapshot (payload: its zstd frame) and swaps head to name it,
// after the first keep entries of the journal (which it replaces whole for
// a snapshot). ops are the Tree's pending ops the batch holds: on failure
// they go back into t, unless the commit landed after all.
func (l *Log) publish(ctx context.Context, t *Tree, ops []*op, snapshot bool, keep int, seq uint64, payload []byte, next Ino) (Head, error) {
	kind, ext := crypt.KindJournal, layout.JournalExt
	if snapshot {
		kind, ext = crypt.KindSnapshot, layout.SnapshotExt
	}
	sealed, err := sealBatch(l.opts.Rand, l.k, kind, seq, payload)
	// A small journal batch rides in the head (one PUT per commit); a
	// checkpoint is always an object, which named snapshots refer to, and
	// so is a merged batch: it stays in the journal for many commits, each
	// of which would put it again inside the head.
	kept := l.head.journal[:keep]
	merged := keep < len(l.head.journal)
	inline := err == nil && !snapshot && !merged && !l.opts.NoInline && len(sealed) <= maxInlineBatch &&
		inlineBytes(kept)+len(sealed) <= maxInlineTotal
	var key string
	if err == nil && !inline {
		key, err = metaKey(l.opts.Rand, seq, ext)
	}
	if err == nil && !inline {
		// Create-only: a key is never overwritten, whatever went wrong before.
		_, err = l.s.Put(ctx, key, sealed, remote.PutOptions{IfNoneMatch: true})
	}
	if err != nil {
		t.putBack(ops)
		return l.Head(), err
	}
	rec := l.head
	rec.version, rec.suite, rec.chunk = headVersion, l.k.Suite, uint64(l.k.ChunkSize)
	rec.seq, rec.time = seq, time.Now().UnixNano()
	rec.device, rec.mountID, rec.nextIno = l.opts.Device, l.opts.MountID, next
	r := ref{seq: seq, key: key, hash: hashOf(sealed)}
	if inline {
		r.inline = string(sealed)
	}
	if snapshot {
		rec.snapshot, rec.journal = r, nil
	} else {
		rec.journal = append(slices.Clone(kept), r)
	}
	d := &doubt{rec: rec, nops: len(ops), size: len(sealed), snapshot: snapshot, keep: keep}
	if !snapshot && !inline {
		d.body = sealed
	}
	if err := l.swapHead(ctx, d); err != nil {
		t.putBack(ops)
		return l.Head(), err
	}
	l.opts.Logger.Debug("meta: committed", "seq", seq, "ops", len(ops), "bytes", len(sealed), "snapshot", snapshot, "inline", inline,
		"merged", len(l.head.journal)-keep)
	return l.Head(), nil
}

// swapHead seals d.rec and replaces head with it by compare-and-swap on the
// etag we last saw (create-only for the first head). A failed put is not
// trusted: an S3 request can fail after the server applied it (lost
// response), and a retrying client then sees its own retry refused with
// 412. So head is read back: our exact bytes mean the swap happened, the
// old etag means it did not, anything else means another writer won
// (ErrFenced). If head cannot be read either, the outcome stays in doubt
// (l.doubt) until the next commit resolves it before doing anything else.
func (l *Log) swapHead(ctx context.Context, d *doubt) error {
	sealed, err := crypt.SealRecord(l.opts.Rand, l.k.Meta, crypt.KindHead, d.rec.seq, encodeHead(&d.rec))
	if err != nil {
		return fmt.Errorf("seal head: %w", err)
	}
	d.sealed = sealed
	opts := remote.PutOptions{IfMatch: l.etag, IfNoneMatch: l.etag == ""}
	etag, putErr := l.s.Put(ctx, layout.Head, sealed, opts)
	if putErr == nil {
		l.adopt(d, etag)
		return nil
	}
	state, etag, other, err := l.readBack(ctx, sealed)
	switch {
	case err != nil:
		l.doubt = d
		return fmt.Errorf("put %s: %w (outcome unknown until the next commit: %v)", layout.Head, putErr, err)
	case state == headLanded:
		l.adopt(d, etag)
		return nil
	case state == headUnchanged:
		return fmt.Errorf("put %s: %w", layout.Head, putErr)
	case l.etag == "":
		return fmt.Errorf("put %s: a head exists: %w", layout.Head, remote.ErrPrecondition)
	}
	l.fenced = true
	return fenced(other)
}

// resolve settles l.doubt (see doubt).
func (l *Log) resolve(ctx context.Context, t *Tree) error {
	d := l.doubt
	state, etag, other, err := l.readBack(ctx, d.sealed)
	switch {
	case err != nil:
		return fmt.Errorf("meta: commit: outcome of commit %d still unknown: %w", d.rec.seq, err)
	case state == headLanded:
		l.adopt(d, etag)
		t.dropFront(d.nops)
		l.opts.Logger.Info("meta: commit found committed after an error", "seq", d.rec.seq)
	case state == headUnchanged:
	default:
		l.fenced = true
		l.doubt = nil
		return fmt.Errorf("meta: commit: %w", fenced(other))
	}
	l.doubt = nil
	return nil
}

// readBack reads head after a failed put of sealed and says what it holds;
// for a moved head it also returns it if it opens (for the message).
func (l *Log) readBack(ctx context.Context, sealed []byte) (headState, string, *headRecord, error) {
	cur, info, err := l.s.Get(ctx, layout.Head)
	switch {
	case errors.Is(err, remote.ErrNotFound) && l.etag == "":
		return headUnchanged, "", nil, nil
	case err != nil:
		return 0, "", nil, fmt.Errorf("read %s back: %w", layout.Head, err)
	case bytes.Equal(cur, sealed):
		return headLanded, info.ETag, nil, nil
	case l.etag != "" && info.ETag == l.etag:
		return headUnchanged, "", nil, nil
	}
	other, _ := openHead(l.k, cur)
	return headMoved, "", other, nil
}

func fenced(other *headRecord) error {
	if other == nil {
		return fmt.Errorf("%w (its head does not open with this vault's key)", ErrFenced)
	}
	return fmt.Errorf("%w (commit %d by device %q, mount %s, at %s)", ErrFenced,
		other.seq, other.device, other.mountID, time.Unix(0, other.time).UTC().Format(time.RFC3339))
}

// adopt makes d the current head.
func (l *Log) adopt(d *doubt, etag string) {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	l.head, l.etag = d.rec, etag
	if d.snapshot {
		l.snapBytes, l.sizes = d.size, nil
	} else {
		l.sizes = append(l.sizes[:d.keep:d.keep], d.size)
	}
	l.forgetBodies()
	if d.body != nil {
		l.keepBody(d.rec.journal[len(d.rec.journal)-1], d.body)
	}
}
