package meta

import (
	"slices"
	"sort"
	"sync"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
)

// Tree is the whole metadata of one vault in memory. All methods are safe for
// concurrent use. Every change is recorded as a journal op for the next
// commit.
//
// Errors are returned as bare syscall.Errno values (ENOENT, EEXIST, ENOTDIR,
// EISDIR, ENOTEMPTY, EINVAL, ENAMETOOLONG, ENODATA, EPERM, ERANGE, E2BIG,
// EFBIG) so the FUSE layer can pass them through.
type Tree struct {
	mu    sync.RWMutex
	chunk int
	ins   inodes // the inodes (tree_table.go)
	next  Ino    // next inode number to hand out

	files, dirs, bytes uint64                   // Stats, kept up to date by apply
	refs               map[crypt.ObjectID]int32 // extents per data object (refs.go)
	content            contentIndex             // content id -> bytes in a shared object (refs.go)

	pend    journal
	changes uint64 // changes made by do since the tree was built (Changes)
}

// journal is the list of ops not yet committed. inodeAt and extAt remember
// where the pending opInode / opExtents of an inode is, so that repeated
// changes of one inode in one batch update that op instead of adding one.
type journal struct {
	ops     []*op
	inodeAt map[Ino]int
	extAt   map[Ino]int
}

// NewTree returns a tree holding only the root directory (mode 0755), owned
// by uid:gid. chunkSize is the plaintext size of one chunk object.
func NewTree(chunkSize int, uid, gid uint32, now int64) *Tree {
	t := newEmptyTree(chunkSize)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.do(&op{kind: opInode, ino: RootIno, attr: Attr{
		Mode: syscall.S_IFDIR | 0o755, Uid: uid, Gid: gid, Nlink: 2,
		Atime: now, Mtime: now, Ctime: now,
	}})
	return t
}

// newEmptyTree returns a tree without even a root, to load ops into.
func newEmptyTree(chunkSize int) *Tree {
	if chunkSize <= 0 {
		panic("meta: internal error: chunk size must be positive")
	}
	return &Tree{chunk: chunkSize, ins: newInodes(), next: RootIno + 1, refs: make(map[crypt.ObjectID]int32)}
}

// ChunkSize is the plaintext size of one chunk object.
func (t *Tree) ChunkSize() int { return t.chunk }

// Get returns a copy of inode ino.
func (t *Tree) Get(ino Ino) (Inode, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.ins.node(ino)
	if n == nil {
		return Inode{}, false
	}
	return t.copy(ino, n), true
}

// GetAttr returns the attributes of inode ino. Unlike Get it copies no
// extents or xattrs: use it for getattr on large files.
func (t *Tree) GetAttr(ino Ino) (Attr, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n := t.ins.node(ino); n != nil {
		return n.attr, true
	}
	return Attr{}, false
}

// FirstExtent returns the extent of regular file ino's first chunk (ok
// false if it has none). Unlike Get it copies no other extents: for
// read-ahead, which looks at many files' starts.
func (t *Tree) FirstExtent(ino Ino) (Extent, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.ins.node(ino)
	if n == nil || !n.attr.IsRegular() || n.next == 0 {
		return Extent{}, false
	}
	return t.ins.extents(n)[0], true
}

// copy returns inode ino (rec n) as an Inode. The caller holds t.mu.
func (t *Tree) copy(ino Ino, n *rec) Inode {
	in := Inode{Ino: ino, Attr: n.attr, Target: t.ins.targets[ino]}
	if n.next > 0 {
		in.Extents = slices.Clone(t.ins.extents(n))
	}
	if x := t.ins.xattrs[ino]; len(x) > 0 {
		in.Xattrs = cloneXattrs(x)
	}
	return in
}

// Lookup returns the inode named name in directory parent.
func (t *Tree) Lookup(parent Ino, name string) (Inode, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ino, err := t.lookup(parent, name)
	if err != nil {
		return Inode{}, err
	}
	return t.copy(ino, t.ins.node(ino)), nil
}

// lookup finds directory p (rec and entries) and its entry name (ENOENT
// if missing).
func (t *Tree) lookup(parent Ino, name string) (dirNode, Ino, error) {
	p, err := t.dir(parent)
	if err != nil {
		return dirNode{}, 0, err
	}
	if err := CheckName(name); err != nil {
		return dirNode{}, 0, err
	}
	ino, ok := p.get(name)
	if !ok {
		return p, 0, syscall.ENOENT
	}
	return p, ino, nil
}

// dirNode is a directory's rec and entries. The rec pointer is valid
// until the next insertion of an inode.
type dirNode struct {
	*rec
	*dir
}

// dir returns directory ino: ENOENT if missing, ENOTDIR if not a directory.
func (t *Tree) dir(ino Ino) (dirNode, error) {
	n := t.ins.node(ino)
	if n == nil {
		return dirNode{}, syscall.ENOENT
	}
	if !n.attr.IsDir() {
		return dirNode{}, syscall.ENOTDIR
	}
	return dirNode{rec: n, dir: t.ins.dirs[ino]}, nil
}

// Parent returns the directory holding directory dir (the root holds
// itself): what ".." names. ENOENT if dir is gone, ENOTDIR if it is not
// a directory.
func (t *Tree) Parent(dir Ino) (Ino, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	d, err := t.dir(dir)
	if err != nil {
		return 0, err
	}
	if dir == RootIno || d.dir == nil || d.parent == 0 {
		return RootIno, nil
	}
	return d.parent, nil
}

// ReadDir returns the entries of directory dir sorted by name (without "."
// and "..").
func (t *Tree) ReadDir(dir Ino) ([]DirEntry, error) {
	names, err := t.DirNames(dir)
	if err != nil {
		return nil, err
	}
	return t.DirEntries(dir, names), nil
}

// DirNames returns the names in directory dir, sorted, without "." and
// "..": a listing's cursor pages through them with DirEntries. The slice
// is the caller's; its strings share the tree's memory, which the tree
// never changes. Names removed later are skipped by DirEntries; names
// added later are missing, as POSIX allows for entries added after a
// listing started.
func (t *Tree) DirNames(dir Ino) ([]string, error) {
	t.mu.RLock()
	d, err := t.dir(dir)
	if err != nil {
		t.mu.RUnlock()
		return nil, err
	}
	if d.sorted != nil {
		names := d.sortedNames(d.sorted)
		t.mu.RUnlock()
		return names, nil
	}
	// Sort outside the lock, then keep the order if nothing changed.
	dd, gen := d.dir, d.gen
	idx := make([]int32, 0, d.live)
	names := make([]string, 0, d.live)
	for i, e := range d.ents {
		if e.ino != 0 {
			idx = append(idx, int32(i))
			names = append(names, d.name(int32(i)))
		}
	}
	t.mu.RUnlock()
	sortByName(idx, names)
	t.mu.Lock()
	if dd.sorted == nil && dd.gen == gen {
		dd.sorted = idx
	}
	t.mu.Unlock()
	return names, nil
}

// Neighbours returns, for the entry name of directory dir, the name listed
// before it ("" for the first) and up to n entries listed after it, in
// DirNames order. ok is false when name is not in dir or when that order
// is not known without sorting (the folder changed since it was last
// listed): it serves hints (folder read-ahead), which must not pay for
// sorting a big folder on every call.
func (t *Tree) Neighbours(dir Ino, name string, n int) (prev string, next []DirEntry, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	d, err := t.dir(dir)
	if err != nil || d.sorted == nil {
		return "", nil, false
	}
	s := d.sorted
	i := sort.Search(len(s), func(k int) bool { return d.name(s[k]) >= name })
	if i == len(s) || d.name(s[i]) != name {
		return "", nil, false
	}
	if i > 0 {
		prev = d.name(s[i-1])
	}
	for _, k := range s[i+1 : min(len(s), i+1+n)] {
		ino := d.ents[k].ino
		next = append(next, DirEntry{Name: d.name(k), Ino: ino, Mode: t.ins.node(ino).attr.Mode})
	}
	return prev, next, true
}

// sortedNames returns the names of entries idx. The caller holds t.mu.
func (d *dir) sortedNames(idx []int32) []string {
	names := make([]string, len(idx))
	for k, i := range idx {
		names[k] = d.name(i)
	}
	return names
}

// sortByName sorts names and, in step, their entry indexes idx.
func sortByName(idx []int32, names []string) {
	sort.Sort(byName{idx, names})
}

type byName struct {
	idx   []int32
	names []string
}

func (b byName) Len() int           { return len(b.idx) }
func (b byName) Less(i, j int) bool { return b.names[i] < b.names[j] }
func (b byName) Swap(i, j int) {
	b.idx[i], b.idx[j] = b.idx[j], b.idx[i]
	b.names[i], b.names[j] = b.names[j], b.names[i]
}

// DirEntries returns the entries of dir named by names (a page of
// DirNames), skipping those that are gone.
func (t *Tree) DirEntries(dir Ino, names []string) []DirEntry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	d, err := t.dir(dir)
	if err != nil {
		return nil
	}
	out := make([]DirEntry, 0, len(names))
	for _, name := range names {
		if ino, ok := d.get(name); ok {
			out = append(out, DirEntry{Name: name, Ino: ino, Mode: t.ins.node(ino).attr.Mode})
		}
	}
	return out
}

// Stats counts regular files, directories and the bytes of regular files
// (including unlinked files still open).
func (t *Tree) Stats() (files, dirs, bytes uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.files, t.dirs, t.bytes
}

// ForEachExtent calls fn for every non-hole extent of every inode. fn runs
// under the tree's read lock: it must not call back into the Tree.
func (t *Tree) ForEachExtent(fn func(ino Ino, e Extent)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	t.ins.each(func(ino Ino, n *rec) {
		for _, e := range t.ins.extents(n) {
			if !e.IsHole() {
				fn(ino, e)
			}
		}
	})
}

// Dirty reports whether there are changes not yet committed.
func (t *Tree) Dirty() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.pend.ops) > 0
}

// Changes counts the changes made to the tree since it was built. A
// Commit that starts after Changes returned n holds every change up to n
// (it takes all pending ops): what a group commit needs to know.
func (t *Tree) Changes() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.changes
}

// do applies o to the tree and journals it. The caller holds t.mu and has
// checked everything, so a failure is a bug in this package.
func (t *Tree) do(o *op) {
	if err := t.apply(o); err != nil {
		panic("meta: internal error: " + err.Error())
	}
	t.changes++
	t.pend.add(o)
}

// add appends o to the journal, coalescing it into an earlier op of the
// same inode: an inode op replaces the first one's attributes in place, an
// extents op merges into the first one. Ops are never modified, only
// replaced, so that an op list taken earlier (a commit in flight) stays as
// it was.
func (j *journal) add(o *op) {
	switch o.kind {
	case opInode:
		if i, ok := j.inodeAt[o.ino]; ok {
			j.ops[i] = o
			return
		}
		j.remember(&j.inodeAt, o.ino)
	case opExtents:
		if i, ok := j.extAt[o.ino]; ok {
			j.ops[i] = mergeExtents(j.ops[i], o)
			return
		}
		j.remember(&j.extAt, o.ino)
	case opDrop:
		delete(j.inodeAt, o.ino)
		delete(j.extAt, o.ino)
	}
	j.ops = append(j.ops, o)
}

// remember records that the op about to be appended is the one for ino.
func (j *journal) remember(at *map[Ino]int, ino Ino) {
	if *at == nil {
		*at = make(map[Ino]int)
	}
	(*at)[ino] = len(j.ops)
}

// mergeExtents combines two opExtents of one inode into one with the same
// effect: later sets win, and the later list length cuts earlier sets.
func mergeExtents(a, b *op) *op {
	m := make(map[uint64]Extent, len(a.sets)+len(b.sets))
	for _, s := range a.sets {
		m[s.Index] = s.Extent
	}
	for _, s := range b.sets {
		m[s.Index] = s.Extent
	}
	merged := *b
	merged.sets = sortedSets(m, b.nExt)
	return &merged
}

// sortedSets turns index→extent into the sorted list of an opExtents,
// leaving out indexes at or past n.
func sortedSets(m map[uint64]Extent, n uint64) []indexedExtent {
	sets := make([]indexedExtent, 0, len(m))
	for i, e := range m {
		if i < n {
			sets = append(sets, indexedExtent{Index: i, Extent: e})
		}
	}
	slices.SortFunc(sets, func(x, y indexedExtent) int {
		if x.Index < y.Index {
			return -1
		}
		return 1
	})
	return sets
}

// takePending removes and returns the pending ops and the next inode number.
func (t *Tree) takePending() ([]*op, Ino) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ops := t.pend.ops
	t.pend = journal{}
	return ops, t.next
}

// putBack puts ops (taken by takePending, not committed) back in front of
// the pending list, keeping the order. Coalescing restarts from here: the
// put-back ops are never changed again, which Log relies on to drop them if
// a commit it thought failed turns out to have landed.
func (t *Tree) putBack(ops []*op) {
	if len(ops) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pend = journal{ops: append(ops, t.pend.ops...)}
}

// dropFront removes the first n pending ops (put back earlier, then found
// committed after all).
func (t *Tree) dropFront(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rest := slices.Clone(t.pend.ops[n:])
	t.pend = journal{ops: rest}
}
