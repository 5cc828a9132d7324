package meta

import (
	"maps"
	"slices"
)

// inodes is the tree's inode table, laid out for a million entries: the
// per-inode state every inode has sits in two pointer-free slices sorted
// by inode number, so an inode costs 8 + 64 bytes, no allocation of its
// own and nothing for the collector to scan; the state only some inodes
// have lives in side maps (symlink targets, xattrs, directories); a
// file's extents are a range of one shared pointer-free array.
//
// Numbers are handed out in increasing order and never reused, so a new
// inode is appended; a removed one is marked dead in place and the slices
// are compacted once the dead outnumber the live. The caller holds t.mu.
// A *rec is valid until the next insertion (which may move the slices).
type inodes struct {
	inos []Ino // ascending; the number of recs[i]
	recs []rec
	dead int // recs marked dead

	ext     []Extent // every file's extent list, each a range (rec.ext, rec.next)
	extDead int      // extents of ext no range covers any more

	dirs    map[Ino]*dir
	targets map[Ino]string            // symlinks
	xattrs  map[Ino]map[string][]byte // only inodes that have some
}

// rec is the state every inode has. A dead rec has attr.Mode 0 (a live
// inode always has type bits).
type rec struct {
	attr Attr
	ext  uint32 // first extent in inodes.ext
	next uint32 // number of extents
}

func newInodes() inodes {
	return inodes{dirs: make(map[Ino]*dir), targets: make(map[Ino]string), xattrs: make(map[Ino]map[string][]byte)}
}

// find returns the index of ino in in.inos, or -1.
func (in *inodes) find(ino Ino) int {
	// Numbers are dense but for removed inodes: try two guesses first,
	// counting from either end.
	if n := len(in.inos); n > 0 {
		if g := int(ino - in.inos[0]); g >= 0 && g < n && in.inos[g] == ino {
			return g
		}
		if g := n - 1 - int(in.inos[n-1]-ino); g >= 0 && g < n && in.inos[g] == ino {
			return g
		}
	}
	i, ok := slices.BinarySearch(in.inos, ino)
	if !ok {
		return -1
	}
	return i
}

// node returns inode ino's rec, or nil if the tree does not hold it.
func (in *inodes) node(ino Ino) *rec {
	i := in.find(ino)
	if i < 0 || in.recs[i].attr.Mode == 0 {
		return nil
	}
	return &in.recs[i]
}

// insert adds inode ino with attributes a (ino not held).
func (in *inodes) insert(ino Ino, a Attr) *rec {
	if in.dead > 1024 && in.dead > len(in.recs)/2 {
		in.compact()
	}
	i, found := slices.BinarySearch(in.inos, ino)
	if found { // a dead rec of the same number (a follower's kept file)
		in.recs[i] = rec{attr: a}
		in.dead--
		return &in.recs[i]
	}
	in.inos = slices.Insert(in.inos, i, ino)
	in.recs = slices.Insert(in.recs, i, rec{attr: a})
	return &in.recs[i]
}

// reserve makes room for inodes more inodes and extents more extents,
// so that loading a big tree sizes the slices once instead of growing
// them (batchDecoder.counts).
func (in *inodes) reserve(inodes, extents int) {
	in.inos = slices.Grow(in.inos, inodes)
	in.recs = slices.Grow(in.recs, inodes)
	in.ext = slices.Grow(in.ext, extents)
}

// remove marks inode ino dead and forgets its side state; its extents
// must have been released (setExtents to nil).
func (in *inodes) remove(ino Ino) {
	i := in.find(ino)
	in.recs[i] = rec{}
	in.dead++
	delete(in.dirs, ino)
	delete(in.targets, ino)
	delete(in.xattrs, ino)
}

// compact drops the dead recs.
func (in *inodes) compact() {
	inos, recs := make([]Ino, 0, len(in.inos)-in.dead), make([]rec, 0, len(in.recs)-in.dead)
	for i, r := range in.recs {
		if r.attr.Mode != 0 {
			inos, recs = append(inos, in.inos[i]), append(recs, r)
		}
	}
	in.inos, in.recs, in.dead = inos, recs, 0
}

// len is the number of inodes held.
func (in *inodes) len() int { return len(in.recs) - in.dead }

// each calls fn for every inode held, in increasing order. fn may remove
// inodes but not insert any.
func (in *inodes) each(fn func(ino Ino, r *rec)) {
	for i := range in.recs {
		if in.recs[i].attr.Mode != 0 {
			fn(in.inos[i], &in.recs[i])
		}
	}
}

// extents returns r's extent list. It aliases the table: read it, do not
// keep it past the next change.
func (in *inodes) extents(r *rec) []Extent {
	return in.ext[r.ext : r.ext+r.next : r.ext+r.next]
}

// setExtents makes list r's extent list (copied). A list no longer than
// the current one is written in place; a longer one is appended.
func (in *inodes) setExtents(r *rec, list []Extent) {
	n := uint32(len(list))
	if n <= r.next {
		copy(in.ext[r.ext:], list)
		in.extDead += int(r.next - n)
		r.next = n
		if n == 0 {
			r.ext = 0
		}
		return
	}
	if in.extDead > 1024 && in.extDead > len(in.ext)/2 {
		in.compactExtents()
	}
	in.extDead += int(r.next)
	if uint64(len(in.ext))+uint64(n) > 1<<32-1 {
		panic("meta: internal error: more than 2^32 extents")
	}
	r.ext, r.next = uint32(len(in.ext)), n
	in.ext = append(in.ext, list...)
}

// compactExtents copies the live ranges to a new array.
func (in *inodes) compactExtents() {
	ext := make([]Extent, 0, len(in.ext)-in.extDead)
	for i := range in.recs {
		r := &in.recs[i]
		if r.next == 0 {
			continue
		}
		start := uint32(len(ext))
		ext = append(ext, in.ext[r.ext:r.ext+r.next]...)
		r.ext = start
	}
	in.ext, in.extDead = ext, 0
}

// clone returns a deep copy.
func (in *inodes) clone() inodes {
	c := inodes{
		inos: slices.Clone(in.inos), recs: slices.Clone(in.recs), dead: in.dead,
		ext: slices.Clone(in.ext), extDead: in.extDead,
		dirs: make(map[Ino]*dir, len(in.dirs)), targets: maps.Clone(in.targets),
		xattrs: make(map[Ino]map[string][]byte, len(in.xattrs)),
	}
	for ino, d := range in.dirs {
		c.dirs[ino] = d.clone()
	}
	for ino, x := range in.xattrs {
		c.xattrs[ino] = cloneXattrs(x)
	}
	return c
}
