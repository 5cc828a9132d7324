package meta

import (
	"encoding/binary"
	"maps"
	"slices"
	"sort"

	"github.com/sealfs/sealfs/crypt"
)

// encodeSnapshotLocked encodes the whole tree as a checkpoint batch sealed
// with suite (named in it with the tree's chunk size): the op
// list that rebuilds it from nothing. Inodes come first (ascending), then
// their xattrs, then every directory's entries (by directory, sorted by
// name), then the extents of files. Inodes with nlink 0 (unlinked but still
// open) are included so that journal batches written after the snapshot can
// still refer to them; loading drops them at the end. The caller holds t.mu.
func (t *Tree) encodeSnapshotLocked(seq uint64, suite crypt.Suite) []byte {
	inos := slices.Sorted(maps.Keys(t.nodes))
	body := make([]byte, 0, 64*len(inos))
	nops := 0
	for _, ino := range inos {
		n := t.nodes[ino]
		body = encodeOp(body, &op{kind: opInode, ino: ino, attr: n.attr, target: n.target}, batchVersion)
		nops++
	}
	for _, ino := range inos {
		n := t.nodes[ino]
		if len(n.xattrs) == 0 {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(n.xattrs)) {
			body = encodeOp(body, &op{kind: opSetXattr, ino: ino, name: name, value: n.xattrs[name]}, batchVersion)
			nops++
		}
	}
	for _, ino := range inos {
		n := t.nodes[ino]
		if !n.attr.IsDir() {
			continue
		}
		names := n.sorted
		if names == nil {
			names = slices.Collect(maps.Keys(n.entries))
			sort.Strings(names)
			n.sorted = names
		}
		for _, name := range names {
			body = encodeOp(body, &op{kind: opLink, parent: ino, name: name, ino: n.entries[name]}, batchVersion)
			nops++
		}
	}
	var sets []indexedExtent
	for _, ino := range inos {
		n := t.nodes[ino]
		if len(n.extents) == 0 {
			continue
		}
		sets = sets[:0]
		for i, e := range n.extents {
			if !e.IsHole() {
				sets = append(sets, indexedExtent{Index: uint64(i), Extent: e})
			}
		}
		body = encodeOp(body, &op{kind: opExtents, ino: ino, nExt: uint64(len(n.extents)), sets: sets}, batchVersion)
		nops++
	}
	head := encodeBatchHeader(nil, &batch{kind: crypt.KindSnapshot, seq: seq, suite: suite, chunk: uint64(t.chunk)})
	head = binary.AppendUvarint(head, uint64(nops))
	return append(head, body...)
}

// applyBatch applies decoded ops to a tree being loaded and then checks the
// files they touched (see checkFile).
func (t *Tree) applyBatch(b *batch) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	touched := make(map[Ino]bool)
	for _, o := range b.ops {
		if err := t.apply(o); err != nil {
			return err
		}
		if o.kind == opInode || o.kind == opExtents {
			touched[o.ino] = true
		}
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
	root := t.nodes[RootIno]
	if root == nil || !root.attr.IsDir() || root.parent != 0 {
		return corrupt("no root directory")
	}
	for ino, n := range t.nodes {
		switch {
		case n.attr.Nlink == 0 && ino != RootIno:
			if len(n.entries) > 0 {
				return corrupt("removed directory %d has entries", ino)
			}
			if dropUnlinked {
				t.forget(ino, n)
			}
		case n.attr.IsDir() && ino != RootIno && n.parent == 0:
			return corrupt("directory %d is not in the tree", ino)
		}
	}
	t.pruneContent()
	t.next = max(t.next, next)
	return nil
}
