package meta

import (
	"cmp"
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

// Place names a directory entry: Name in folder Parent.
type Place struct {
	Parent Ino
	Name   string
}

// Paths returns a path ("dir/sub/name", relative to the root) of each
// inode in inos that has a name reachable from the root; a hard-linked
// file gets one of its names. The intent log asks this at every fsync, so
// it costs what is asked, not the tree: a name comes from hints (where
// the caller last saw the inode: the name an open file was opened by) or
// from a pending link op (a file created or renamed since the last
// commit), each checked against the folder's entry; only the rest are
// looked for, by comparing every entry's inode number once, with no
// allocation per entry (about 3 ms in a tree of a million files).
func (t *Tree) Paths(inos []Ino, hints map[Ino]Place) map[Ino]string {
	out := make(map[Ino]string, len(inos))
	t.mu.RLock()
	defer t.mu.RUnlock()
	dirPaths := map[Ino]string{RootIno: ""}
	want := make(map[Ino]bool, len(inos))
	for _, ino := range inos {
		want[ino] = true
	}
	// name takes entry i of folder dir as ino's name if it is one.
	name := func(ino, dir Ino, i int32) bool {
		d := t.ins.dirs[dir]
		if d == nil || i < 0 || d.ents[i].ino != ino {
			return false
		}
		dp, ok := t.dirPath(dir, dirPaths)
		if ok {
			out[ino] = joinPath(dp, d.name(i))
			delete(want, ino)
		}
		return ok
	}
	named := func(ino, dir Ino, entry string) {
		if d := t.ins.dirs[dir]; d != nil {
			name(ino, dir, d.find(entry))
		}
	}
	for ino, h := range hints {
		if want[ino] {
			named(ino, h.Parent, h.Name)
		}
	}
	for _, o := range slices.Backward(t.pend.ops) {
		if len(want) == 0 {
			return out
		}
		if o.kind == opLink && want[o.ino] {
			named(o.ino, o.parent, o.name)
		}
	}
	if len(want) == 0 {
		return out
	}
	// One pass over every entry; of several names, the first in the order
	// of folder numbers, then of entries.
	type entryAt struct {
		dir Ino
		i   int32
	}
	var one Ino // the only inode looked for: no map lookup per entry
	if len(want) == 1 {
		for one = range want {
		}
	}
	found := make(map[Ino][]entryAt, len(want))
	for dino, d := range t.ins.dirs {
		for i, e := range d.ents {
			if e.ino != 0 && (e.ino == one || one == 0 && want[e.ino]) {
				found[e.ino] = append(found[e.ino], entryAt{dino, int32(i)})
			}
		}
	}
	for ino, names := range found {
		slices.SortFunc(names, func(a, b entryAt) int { return cmp.Or(cmp.Compare(a.dir, b.dir), cmp.Compare(a.i, b.i)) })
		for _, a := range names {
			if name(ino, a.dir, a.i) {
				break
			}
		}
	}
	return out
}

// dirPath returns the path of directory ino from the root, and false if
// the root does not reach it (removed, or below a removed one); memo holds
// the paths found so far. The caller holds t.mu.
func (t *Tree) dirPath(ino Ino, memo map[Ino]string) (string, bool) {
	if p, ok := memo[ino]; ok {
		return p, true
	}
	d := t.ins.dirs[ino]
	if d == nil || d.parent == 0 {
		return "", false
	}
	pp, ok := t.dirPath(d.parent, memo)
	if !ok {
		return "", false
	}
	parent := t.ins.dirs[d.parent]
	for i, e := range parent.ents {
		if e.ino == ino {
			p := joinPath(pp, parent.name(int32(i)))
			memo[ino] = p
			return p, true
		}
	}
	return "", false
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
