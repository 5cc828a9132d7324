package meta

import (
	"hash/maphash"
	"slices"
	"strings"
	"unsafe"
)

// dir is the entries of one directory, laid out for a million entries:
// the names' bytes follow each other in one append-only array, an entry is
// 16 pointer-free bytes (inode, where its name is), and the index from
// name to entry is an open-addressing table of int32. An entry costs its
// name plus about 26 bytes, and a directory a handful of allocations
// whatever it holds. The caller holds t.mu.
//
// Names handed out as strings (name, DirNames) point into the array:
// bytes once written are never changed (an append past the capacity
// copies, a compaction makes a new array), so such a string stays valid
// for as long as it is held.
type dir struct {
	parent Ino // the one directory holding this one (0 = none)
	names  []byte
	ents   []dent  // in order of linking; ino 0 = removed
	index  []int32 // slots: -1 empty, -2 removed, else an index in ents
	live   int     // entries with a name
	used   int     // index slots not empty (live and removed)
	// sorted are the live entries' indexes in name order, nil when stale.
	// Appended to while names arrive in order.
	sorted []int32
	gen    uint64 // counts changes of the entries, for DirNames
}

// dent is one entry: inode ino is named names[off:off+n].
type dent struct {
	ino Ino
	off uint32
	n   uint32
}

var dirSeed = maphash.MakeSeed()

func newDir() *dir { return &dir{sorted: []int32{}} }

// name returns entry i's name, sharing the names array.
func (d *dir) name(i int32) string {
	e := d.ents[i]
	if e.n == 0 {
		return ""
	}
	return unsafe.String(&d.names[e.off], int(e.n))
}

func (d *dir) nameBytes(i int32) []byte {
	e := d.ents[i]
	return d.names[e.off : e.off+e.n]
}

// slot returns the index slot of name: the one holding it, or else the
// empty one where a search for it ends.
func (d *dir) slot(name string) int {
	mask := len(d.index) - 1
	for s := int(maphash.String(dirSeed, name)) & mask; ; s = (s + 1) & mask {
		switch i := d.index[s]; {
		case i == -1:
			return s
		case i >= 0 && string(d.nameBytes(i)) == name:
			return s
		}
	}
}

// get returns the inode named name.
func (d *dir) get(name string) (Ino, bool) {
	if i := d.find(name); i >= 0 {
		return d.ents[i].ino, true
	}
	return 0, false
}

// find returns the index in ents of the entry named name, or -1.
func (d *dir) find(name string) int32 {
	if d.live == 0 {
		return -1
	}
	return max(d.index[d.slot(name)], -1)
}

// add names ino name (not present).
func (d *dir) add(name string, ino Ino) {
	if (d.used+1)*4 > len(d.index)*3 {
		d.rebuild()
	}
	if uint64(len(d.names))+uint64(len(name)) > 1<<32-1 {
		panic("meta: internal error: directory names past 4 GiB")
	}
	i := int32(len(d.ents))
	d.gen++
	d.ents = append(d.ents, dent{ino: ino, off: uint32(len(d.names)), n: uint32(len(name))})
	d.names = append(d.names, name...)
	s := d.slot(name)
	d.index[s] = i
	d.used++
	d.live++
	// Names often arrive in order (IMG-0001, IMG-0002 ..., and always when
	// loading a snapshot): then the sorted list stays valid by appending.
	if k := len(d.sorted); d.sorted != nil && (k == 0 || d.name(d.sorted[k-1]) < name) {
		d.sorted = append(d.sorted, i)
	} else {
		d.sorted = nil
	}
}

// del removes name (present) and returns its inode.
func (d *dir) del(name string) Ino {
	s := d.slot(name)
	i := d.index[s]
	ino := d.ents[i].ino
	d.gen++
	d.ents[i] = dent{}
	d.index[s] = -2
	d.live--
	d.sorted = nil
	if d.live == 0 {
		*d = dir{parent: d.parent, sorted: []int32{}, gen: d.gen}
	}
	return ino
}

// rebuild makes a new index sized for the live entries (dropping removed
// slots), and compacts the entries and names when half are removed.
func (d *dir) rebuild() {
	if len(d.ents) > 2*d.live {
		d.compact()
	}
	size := 8
	for size < 2*(d.live+1) { // at most half full after a rebuild
		size *= 2
	}
	d.index = slices.Repeat([]int32{-1}, size)
	d.used = 0
	for i, e := range d.ents {
		if e.ino == 0 {
			continue
		}
		s := d.slot(d.name(int32(i)))
		d.index[s] = int32(i)
		d.used++
	}
}

// compact drops the removed entries and their names. The old names
// array is left as it is, for the strings that point into it.
func (d *dir) compact() {
	size := 0
	for _, e := range d.ents {
		size += int(e.n)
	}
	names := make([]byte, 0, size)
	ents := make([]dent, 0, d.live)
	order := make([]int32, len(d.ents)) // old index -> new
	for i, e := range d.ents {
		if e.ino == 0 {
			continue
		}
		order[i] = int32(len(ents))
		ents = append(ents, dent{ino: e.ino, off: uint32(len(names)), n: e.n})
		names = append(names, d.nameBytes(int32(i))...)
	}
	if d.sorted != nil {
		for k, i := range d.sorted {
			d.sorted[k] = order[i]
		}
	}
	d.gen++
	d.ents, d.names = ents, names
}

// sortedIdx returns the live entries' indexes in name order, computing
// and keeping them if stale.
func (d *dir) sortedIdx() []int32 {
	if d.sorted != nil {
		return d.sorted
	}
	s := make([]int32, 0, d.live)
	for i, e := range d.ents {
		if e.ino != 0 {
			s = append(s, int32(i))
		}
	}
	slices.SortFunc(s, func(a, b int32) int { return strings.Compare(d.name(a), d.name(b)) })
	d.sorted = s
	return s
}

// each calls fn for every entry, in no order.
func (d *dir) each(fn func(name string, ino Ino)) {
	for i, e := range d.ents {
		if e.ino != 0 {
			fn(d.name(int32(i)), e.ino)
		}
	}
}

// clone returns a copy; the names array is shared (never changed below
// its length, and clipped so that the copy's appends copy it).
func (d *dir) clone() *dir {
	return &dir{
		parent: d.parent, names: slices.Clip(d.names), ents: slices.Clone(d.ents),
		index: slices.Clone(d.index), live: d.live, used: d.used, sorted: cloneSorted(d.sorted), gen: d.gen,
	}
}

func cloneSorted(s []int32) []int32 {
	if s == nil {
		return nil
	}
	return append([]int32{}, s...)
}
