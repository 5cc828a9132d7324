package meta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/sealfs/sealfs/crypt"
)

// compressSnapshotLocked encodes the whole tree as a checkpoint batch
// (writeSnapshotLocked) compressed into one zstd frame, the checkpoint's
// record payload, encoded and compressed a piece at a time: the encoded
// checkpoint of a million files (about 80 MB) is never held whole, only
// its frame (about 10 MB). The caller holds t.mu.
func (t *Tree) compressSnapshotLocked(seq uint64, suite crypt.Suite) ([]byte, error) {
	var frame bytes.Buffer
	zw, err := zstd.NewWriter(&frame, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(snapshotWindow))
	if err != nil {
		return nil, err
	}
	t.writeSnapshotLocked(seq, suite, func(b []byte) {
		if err == nil {
			_, err = zw.Write(b)
		}
	})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("meta: compress checkpoint: %w", err)
	}
	return frame.Bytes(), nil
}

// snapshotWindow is the zstd window of a checkpoint's frame: the
// encoder's state is a few times its size, and a checkpoint's ops repeat
// what is near them (names in order, attributes alike).
const snapshotWindow = 1 << 20

// snapshotPiece is how many encoded bytes writeSnapshotLocked gathers
// before handing them on.
const snapshotPiece = 256 << 10

// writeSnapshotLocked encodes the whole tree as a checkpoint batch sealed
// with suite (named in it with the tree's chunk size): the op list that
// rebuilds it from nothing (snapshotOps). It hands the encoding to w in
// pieces of about snapshotPiece bytes (each valid only during the call).
// The op count, which comes first, is counted in a pass of its own.
// The caller holds t.mu.
func (t *Tree) writeSnapshotLocked(seq uint64, suite crypt.Suite, w func([]byte)) {
	nops := 0
	t.snapshotOps(func(*op) { nops++ })
	buf := encodeBatchHeader(make([]byte, 0, snapshotPiece+4096), &batch{kind: crypt.KindSnapshot, seq: seq, suite: suite, chunk: uint64(t.chunk)})
	buf = binary.AppendUvarint(buf, uint64(nops))
	t.snapshotOps(func(o *op) {
		buf = encodeOp(buf, o, batchVersion)
		if len(buf) >= snapshotPiece {
			w(buf)
			buf = buf[:0]
		}
	})
	w(buf)
}

// snapshotOps calls emit with each op of the checkpoint in order; the op
// is reused by the next call. Inodes come first (ascending), then their
// xattrs, then every directory's entries (by directory, sorted by name),
// then the extents of files. Inodes with nlink 0 (unlinked but still
// open) are included so that journal batches written after the
// checkpoint can still refer to them; loading drops them at the end.
func (t *Tree) snapshotOps(emit func(*op)) {
	var o op
	t.ins.each(func(ino Ino, n *rec) {
		o = op{kind: opInode, ino: ino, attr: n.attr, target: t.ins.targets[ino]}
		emit(&o)
	})
	for _, ino := range slices.Sorted(maps.Keys(t.ins.xattrs)) {
		x := t.ins.xattrs[ino]
		for _, name := range slices.Sorted(maps.Keys(x)) {
			o = op{kind: opSetXattr, ino: ino, name: name, value: x[name]}
			emit(&o)
		}
	}
	t.ins.each(func(ino Ino, n *rec) {
		d := t.ins.dirs[ino]
		if d == nil {
			return
		}
		for _, i := range d.sortedIdx() {
			o = op{kind: opLink, parent: ino, name: d.name(i), ino: d.ents[i].ino}
			emit(&o)
		}
	})
	var sets []indexedExtent
	t.ins.each(func(ino Ino, n *rec) {
		if n.next == 0 {
			return
		}
		sets = sets[:0]
		for i, e := range t.ins.extents(n) {
			if !e.IsHole() {
				sets = append(sets, indexedExtent{Index: uint64(i), Extent: e})
			}
		}
		o = op{kind: opExtents, ino: ino, nExt: uint64(n.next), sets: sets}
		emit(&o)
	})
}

// applyDecoded applies the ops d decodes to a tree being loaded
// (applyOps); into an empty tree (a checkpoint), it first reserves room
// for them all (batchDecoder.counts).
func (t *Tree) applyDecoded(d *batchDecoder) error {
	t.mu.Lock()
	if t.ins.len() == 0 {
		t.ins.reserve(d.counts())
	}
	t.mu.Unlock()
	return t.applyOps(d.next)
}

// applyOps applies the ops next returns, until nil, to a tree being
// loaded, and then checks the files they touched. Into an empty tree (a
// checkpoint) every file is touched: they are checked in one pass
// instead of being counted in a set of a million inodes.
func (t *Tree) applyOps(next func() *op) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var touched map[Ino]bool
	if t.ins.len() > 0 {
		touched = make(map[Ino]bool)
	}
	for o := next(); o != nil; o = next() {
		if err := t.apply(o); err != nil {
			return err
		}
		if touched != nil && (o.kind == opInode || o.kind == opExtents) {
			touched[o.ino] = true
		}
	}
	if touched == nil {
		var err error
		t.ins.each(func(ino Ino, _ *rec) {
			if err == nil {
				err = t.checkFile(ino)
			}
		})
		return err
	}
	for ino := range touched {
		if err := t.checkFile(ino); err != nil {
			return err
		}
	}
	return nil
}

// finishLoad checks a loaded tree (the root is a directory, every live
// directory is in the tree, no removed directory has entries) and sets the
// next inode number to at least next. With dropUnlinked it also drops the
// inodes nobody links to any more (their last opener was the mount that
// wrote them); a follower's loads keep them.
func (t *Tree) finishLoad(next Ino, dropUnlinked bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	root := t.ins.node(RootIno)
	if root == nil || !root.attr.IsDir() || t.ins.dirs[RootIno].parent != 0 {
		return corrupt("no root directory")
	}
	var err error
	t.ins.each(func(ino Ino, n *rec) {
		d := t.ins.dirs[ino]
		switch {
		case err != nil:
		case n.attr.Nlink == 0 && ino != RootIno:
			if d != nil && d.live > 0 {
				err = corrupt("removed directory %d has entries", ino)
				return
			}
			if dropUnlinked {
				t.forget(ino, n)
			}
		case d != nil && ino != RootIno && d.parent == 0:
			err = corrupt("directory %d is not in the tree", ino)
		}
	})
	if err != nil {
		return err
	}
	t.pruneContent()
	t.next = max(t.next, next)
	return nil
}
