package meta

import (
	"maps"
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
	nodes map[Ino]*node
	next  Ino // next inode number to hand out

	files, dirs, bytes uint64                   // Stats, kept up to date by apply
	refs               map[crypt.ObjectID]int32 // extents per data object (refs.go)
	content            contentIndex             // content id -> bytes in a shared object (refs.go)

	pend    journal
	changes uint64 // changes made by do since the tree was built (Changes)
}

// node is one inode in the tree.
type node struct {
	attr    Attr
	target  string
	xattrs  map[string][]byte
	extents []Extent
	parent  Ino            // directories: the one directory holding it (0 = none)
	entries map[string]Ino // directories
	sorted  []string       // directories: entry names sorted, nil when stale; append-only otherwise
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
	return &Tree{chunk: chunkSize, nodes: make(map[Ino]*node), next: RootIno + 1, refs: make(map[crypt.ObjectID]int32)}
}

// ChunkSize is the plaintext size of one chunk object.
func (t *Tree) ChunkSize() int { return t.chunk }

// Get returns a copy of inode ino.
func (t *Tree) Get(ino Ino) (Inode, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[ino]
	if n == nil {
		return Inode{}, false
	}
	return n.copy(ino), true
}

// GetAttr returns the attributes of inode ino. Unlike Get it copies no
// extents or xattrs: use it for getattr on large files.
func (t *Tree) GetAttr(ino Ino) (Attr, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n := t.nodes[ino]; n != nil {
		return n.attr, true
	}
	return Attr{}, false
}

func (n *node) copy(ino Ino) Inode {
	in := Inode{Ino: ino, Attr: n.attr, Target: n.target, Extents: slices.Clone(n.extents)}
	if len(n.xattrs) > 0 {
		in.Xattrs = make(map[string][]byte, len(n.xattrs))
		for k, v := range n.xattrs {
			in.Xattrs[k] = slices.Clone(v)
		}
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
	return t.nodes[ino].copy(ino), nil
}

// lookup finds directory p and its entry name (ENOENT if missing).
func (t *Tree) lookup(parent Ino, name string) (*node, Ino, error) {
	p, err := t.dir(parent)
	if err != nil {
		return nil, 0, err
	}
	if err := CheckName(name); err != nil {
		return nil, 0, err
	}
	ino, ok := p.entries[name]
	if !ok {
		return p, 0, syscall.ENOENT
	}
	return p, ino, nil
}

// dir returns directory ino: ENOENT if missing, ENOTDIR if not a directory.
func (t *Tree) dir(ino Ino) (*node, error) {
	n := t.nodes[ino]
	if n == nil {
		return nil, syscall.ENOENT
	}
	if !n.attr.IsDir() {
		return nil, syscall.ENOTDIR
	}
	return n, nil
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
// is shared with the tree and must not be modified; it is never modified
// by the tree either (a change replaces or extends it), so a listing
// holds it at no cost. Names removed later are skipped by DirEntries;
// names added later are missing, as POSIX allows for entries added after
// a listing started.
func (t *Tree) DirNames(dir Ino) ([]string, error) {
	t.mu.RLock()
	d, err := t.dir(dir)
	if err != nil {
		t.mu.RUnlock()
		return nil, err
	}
	names := d.sorted
	t.mu.RUnlock()
	if names == nil {
		names = t.sortNames(d)
	}
	return slices.Clip(names), nil
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
		if ino, ok := d.entries[name]; ok {
			out = append(out, DirEntry{Name: name, Ino: ino, Mode: t.nodes[ino].attr.Mode})
		}
	}
	return out
}

// sortNames returns the sorted names of d and caches them in d.sorted when
// d did not change in between. Names removed meanwhile are skipped by the
// caller; names added meanwhile are missing, as if listed a moment earlier.
func (t *Tree) sortNames(d *node) []string {
	t.mu.RLock()
	names := slices.Collect(maps.Keys(d.entries))
	t.mu.RUnlock()
	sort.Strings(names)
	t.mu.Lock()
	if d.sorted == nil && len(names) == len(d.entries) && namesCurrent(d, names) {
		d.sorted = names
	}
	t.mu.Unlock()
	return names
}

// namesCurrent reports whether names are exactly d's entries (given equal
// counts). It is O(n) map lookups, cheap next to the sort.
func namesCurrent(d *node, names []string) bool {
	for _, n := range names {
		if _, ok := d.entries[n]; !ok {
			return false
		}
	}
	return true
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
	for ino, n := range t.nodes {
		for _, e := range n.extents {
			if !e.IsHole() {
				fn(ino, e)
			}
		}
	}
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
	j := &t.pend
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
