package meta

import (
	"maps"
	"slices"

	"github.com/sealfs/sealfs/crypt"
)

// Pending is a copy of a Tree's uncommitted changes, for a writer's intent
// log on local disk (fs/stage): if the process dies before they are
// committed, the next mount replays them (ApplyPending) on the same head,
// or sets the files aside when another writer committed since.
type Pending struct {
	// Ops are the pending ops encoded as a journal batch with seq 0 and a
	// zero previous hash (docs/FORMAT.md, "Metadata payloads").
	Ops []byte
	// Next is the next inode number the tree would hand out.
	Next Ino
	// Objects are the distinct data objects the ops reference.
	Objects []crypt.ObjectID
	// Files are the regular files with a name that the ops give data or
	// a name, in increasing order: what a recovery sets aside.
	Files []Ino
}

// Pending returns a copy of the changes not yet committed; it leaves them
// pending. Len(Ops) is small when nothing is pending.
func (t *Tree) Pending() Pending {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := Pending{Next: t.next}
	p.Ops = encodeBatch(nil, &batch{kind: crypt.KindJournal, ops: t.pend.ops})
	objs := make(map[crypt.ObjectID]bool)
	files := make(map[Ino]bool)
	for _, o := range t.pend.ops {
		switch o.kind {
		case opExtents:
			files[o.ino] = true
			for _, s := range o.sets {
				if !s.IsHole() {
					objs[s.Object] = true
				}
			}
		case opLink:
			files[o.ino] = true
		}
	}
	for ino := range files {
		if n := t.ins.node(ino); n == nil || !n.attr.IsRegular() || n.attr.Nlink == 0 {
			delete(files, ino)
		}
	}
	p.Objects = slices.SortedFunc(maps.Keys(objs), func(a, b crypt.ObjectID) int {
		return slices.Compare(a[:], b[:])
	})
	p.Files = slices.Sorted(maps.Keys(files))
	return p
}

// PendingObjects returns the data objects the pending ops reference, as
// Pending().Objects does, without encoding the ops (in no order).
func (t *Tree) PendingObjects() []crypt.ObjectID {
	t.mu.RLock()
	defer t.mu.RUnlock()
	seen := make(map[crypt.ObjectID]bool)
	var out []crypt.ObjectID
	for _, o := range t.pend.ops {
		if o.kind != opExtents {
			continue
		}
		for _, s := range o.sets {
			if !s.IsHole() && !seen[s.Object] {
				seen[s.Object] = true
				out = append(out, s.Object)
			}
		}
	}
	return out
}

// ApplyPending applies ops encoded by Pending (of a tree that had the same
// committed state as t) and keeps them pending, so that the next Commit
// commits them, and raises the next inode number to at least next. The ops
// are checked as strictly as a loaded journal batch. A drop of an inode
// that t no longer holds is skipped: loading dropped it already. On error
// t may hold part of the ops and must be discarded.
func (t *Tree) ApplyPending(ops []byte, next Ino) error {
	b, err := decodeBatch(ops)
	if err != nil {
		return err
	}
	if b.kind != crypt.KindJournal || b.seq != 0 || b.prev != [32]byte{} {
		return corrupt("pending ops: kind %d seq %d", b.kind, b.seq)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	touched := make(map[Ino]bool)
	for _, o := range b.ops {
		if o.kind == opDrop && t.ins.node(o.ino) == nil {
			continue
		}
		if err := t.apply(o); err != nil {
			return err
		}
		t.pend.ops = append(t.pend.ops, o)
		if o.kind == opInode || o.kind == opExtents {
			touched[o.ino] = true
		}
	}
	for ino := range touched {
		if err := t.checkFile(ino); err != nil {
			return err
		}
	}
	t.next = max(t.next, next)
	return nil
}

// Paths returns a path ("dir/sub/name", relative to the root) of each
// inode in inos that has a name; a hard-linked file gets one of its names.
// It walks the whole tree once.
func (t *Tree) Paths(inos []Ino) map[Ino]string {
	want := make(map[Ino]bool, len(inos))
	for _, ino := range inos {
		want[ino] = true
	}
	out := make(map[Ino]string, len(inos))
	t.mu.RLock()
	defer t.mu.RUnlock()
	type dir struct {
		ino  Ino
		path string
	}
	stack := []dir{{ino: RootIno}}
	for len(stack) > 0 && len(out) < len(want) {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := t.ins.dirs[d.ino]
		if n == nil {
			continue
		}
		n.each(func(name string, ino Ino) {
			p := name
			if d.path != "" {
				p = d.path + "/" + name
			}
			if want[ino] {
				if _, ok := out[ino]; !ok {
					out[ino] = p
				}
			}
			if t.ins.dirs[ino] != nil {
				stack = append(stack, dir{ino: ino, path: p})
			}
		})
	}
	return out
}
