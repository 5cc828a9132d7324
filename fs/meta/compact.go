package meta

import (
	"context"

	"github.com/sealfs/sealfs/crypt"
)

// Compacting the journal (docs/FORMAT.md, "Compacting the journal").
//
// A checkpoint costs the whole tree: for a million files tens of MiB sealed,
// encoded and put while the commit that triggers it (an fsync) waits. So
// when the journal is long, a commit first tries to merge: it takes the
// newest batches, replays their ops with its own through the same
// coalescing the live journal uses (an inode's attributes and extents are
// set once, with their last value), and writes the result as its one
// batch, chained to the entry before the merged ones. The merged batch is
// an ordinary journal batch of the current format, so every reader opens
// it. Entries older than the merged run stay, each one more than twice the
// size of everything merged after it; so batch sizes at least double going
// back, a byte is rewritten a logarithmic number of times, and the cost of
// a commit follows what changed since the checkpoint, not the tree. When a
// merge would cost more than half a checkpoint, the checkpoint is written
// instead (small trees), and when the journal outgrows the checkpoint, too.

// maxKeptBodies bounds the sealed journal batches a Log keeps in memory
// for merging; batches past it are fetched again when merged.
const maxKeptBodies = 4 << 20

// mergeFrom returns the index of the first journal entry the next commit
// merges its batch with: at least the newest half of SnapshotEvery's batches
// (one at the least), and every older entry at most twice the size of what
// is merged after it.
func (l *Log) mergeFrom() int {
	n := len(l.sizes)
	least := max(1, l.opts.SnapshotEvery/2)
	i, acc := n, 0
	for i > 0 && (n-i < least || l.sizes[i-1] <= 2*acc) {
		i--
		acc += l.sizes[i]
	}
	return i
}

// sizeFrom is the sealed size of the journal entries from index i on.
func (l *Log) sizeFrom(i int) int {
	n := 0
	for _, s := range l.sizes[i:] {
		n += s
	}
	return n
}

// readJournal returns the ops of head's journal entries from index i on, in
// commit order, each entry verified against head (hash, seal, kind, seq and
// chain link) as Open verifies it.
func (l *Log) readJournal(ctx context.Context, i int) ([]*op, error) {
	prev := l.head.snapshot.hash
	if i > 0 {
		prev = l.head.journal[i-1].hash
	}
	var ops []*op
	for _, r := range l.head.journal[i:] {
		b, _, err := l.readBatch(ctx, crypt.KindJournal, r, prev)
		if err != nil {
			return nil, err
		}
		prev = r.hash
		ops = append(ops, b.ops...)
	}
	return ops, nil
}

// mergeOps is the op list of one batch with the effect of old followed by
// ops: both replayed through the journal's coalescing. Neither list is
// modified.
func mergeOps(old, ops []*op) []*op {
	var j journal
	for _, o := range old {
		j.add(o)
	}
	for _, o := range ops {
		j.add(o)
	}
	return j.ops
}

// keepBody keeps the sealed bytes of journal batch object r for merging,
// while the kept bytes stay under maxKeptBodies.
func (l *Log) keepBody(r ref, sealed []byte) {
	if r.inline != "" {
		return
	}
	n := len(sealed)
	for _, b := range l.bodies {
		n += len(b)
	}
	if n > maxKeptBodies {
		return
	}
	if l.bodies == nil {
		l.bodies = make(map[uint64][]byte)
	}
	l.bodies[r.seq] = sealed
}

// forgetBodies drops kept batches that head no longer names.
func (l *Log) forgetBodies() {
	if len(l.bodies) == 0 {
		return
	}
	live := make(map[uint64]bool, len(l.head.journal))
	for _, r := range l.head.journal {
		live[r.seq] = true
	}
	for seq := range l.bodies {
		if !live[seq] {
			delete(l.bodies, seq)
		}
	}
}
