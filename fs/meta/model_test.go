package meta

import (
	"fmt"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
)

// mnode is one inode of the model: a deliberately naive file system kept
// in maps, whose nlink counts are derived by scanning rather than tracked.
type mnode struct {
	mode    uint32
	size    uint64
	target  string
	xattrs  map[string]string
	ext     map[uint64]Extent // non-hole extents by chunk index
	entries map[string]Ino
}

type model struct {
	nodes map[Ino]*mnode
	next  Ino
}

func newModel() *model {
	return &model{nodes: map[Ino]*mnode{RootIno: {mode: syscall.S_IFDIR | 0o755, entries: map[string]Ino{}}}, next: 2}
}

func (m *model) isDir(ino Ino) bool { return m.nodes[ino].mode&syscall.S_IFMT == syscall.S_IFDIR }

// parentOf finds the directory holding dir (0 if none).
func (m *model) parentOf(dir Ino) Ino {
	for p, n := range m.nodes {
		for _, c := range n.entries {
			if c == dir {
				return p
			}
		}
	}
	return 0
}

func (m *model) nlink(ino Ino) uint32 { return m.scan().nlink(ino) }

// linkScan is one pass over all entries: how many name each inode and
// which directory holds each directory.
type linkScan struct {
	m      *model
	names  map[Ino]uint32
	parent map[Ino]Ino
}

func (m *model) scan() *linkScan {
	ls := &linkScan{m: m, names: map[Ino]uint32{}, parent: map[Ino]Ino{}}
	for p, n := range m.nodes {
		for _, c := range n.entries {
			ls.names[c]++
			ls.parent[c] = p
		}
	}
	return ls
}

func (ls *linkScan) nlink(ino Ino) uint32 {
	m := ls.m
	if !m.isDir(ino) {
		return ls.names[ino]
	}
	if ino != RootIno && ls.names[ino] == 0 {
		return 0
	}
	var sub uint32
	for _, c := range m.nodes[ino].entries {
		if m.isDir(c) {
			sub++
		}
	}
	return 2 + sub
}

func (m *model) dir(ino Ino) (*mnode, error) {
	n := m.nodes[ino]
	switch {
	case n == nil:
		return nil, syscall.ENOENT
	case n.mode&syscall.S_IFMT != syscall.S_IFDIR:
		return nil, syscall.ENOTDIR
	}
	return n, nil
}

// freeName returns the live directory parent if name is free in it.
func (m *model) freeName(parent Ino, name string) (*mnode, error) {
	p, err := m.dir(parent)
	switch {
	case err != nil:
		return nil, err
	case p.entries[name] != 0:
		return nil, syscall.EEXIST
	case m.nlink(parent) == 0:
		return nil, syscall.ENOENT
	}
	return p, nil
}

func (m *model) add(parent Ino, name string, n *mnode) (Ino, error) {
	p, err := m.freeName(parent, name)
	if err != nil {
		return 0, err
	}
	ino := m.next
	m.next++
	m.nodes[ino] = n
	p.entries[name] = ino
	return ino, nil
}

// within reports whether ino is dir or below it.
func (m *model) within(ino, dir Ino) bool {
	if !m.isDir(dir) {
		return false
	}
	for a := ino; a != 0; a = m.parentOf(a) {
		if a == dir {
			return true
		}
	}
	return false
}

func (m *model) rename(op Ino, on string, np Ino, nn string, flags uint32) (Ino, error) {
	o, err := m.dir(op)
	if err != nil {
		return 0, err
	}
	src := o.entries[on]
	if src == 0 {
		return 0, syscall.ENOENT
	}
	n, err := m.dir(np)
	if err != nil {
		return 0, err
	}
	if m.nlink(np) == 0 {
		return 0, syscall.ENOENT
	}
	if m.within(np, src) {
		return 0, syscall.EINVAL
	}
	dst := n.entries[nn]
	if flags == RenameExchange {
		switch {
		case dst == 0:
			return 0, syscall.ENOENT
		case dst == src:
			return 0, nil
		case m.within(op, dst):
			return 0, syscall.EINVAL
		}
		o.entries[on], n.entries[nn] = dst, src
		return 0, nil
	}
	if dst != 0 {
		sd, dd := m.isDir(src), m.isDir(dst)
		switch {
		case flags == RenameNoReplace:
			return 0, syscall.EEXIST
		case dst == src:
			return 0, nil
		case sd && !dd:
			return 0, syscall.ENOTDIR
		case !sd && dd:
			return 0, syscall.EISDIR
		case len(m.nodes[dst].entries) > 0:
			return 0, syscall.ENOTEMPTY
		}
	}
	delete(o.entries, on)
	n.entries[nn] = src
	return dst, nil
}

func (m *model) clamp(n *mnode, size uint64) {
	for i, e := range n.ext {
		start := i * testChunk
		switch {
		case start >= size:
			delete(n.ext, i)
		case start+uint64(e.Length) > size:
			e.Length = uint32(size - start)
			n.ext[i] = e
		}
	}
	n.size = size
}

// check compares the tree with the model, inode by inode.
func (m *model) check(t *Tree) error {
	t.mu.RLock()
	count := t.ins.len()
	t.mu.RUnlock()
	if count != len(m.nodes) {
		return fmt.Errorf("tree has %d inodes, model %d", count, len(m.nodes))
	}
	var files, dirs, bytes uint64
	ls := m.scan()
	for ino, mn := range m.nodes {
		in, ok := t.Get(ino)
		if !ok {
			return fmt.Errorf("inode %d missing", ino)
		}
		if in.Mode != mn.mode || in.Size != mn.size || in.Target != mn.target || in.Nlink != ls.nlink(ino) {
			return fmt.Errorf("inode %d: tree %+v target %q, model mode %o size %d nlink %d target %q",
				ino, in.Attr, in.Target, mn.mode, mn.size, ls.nlink(ino), mn.target)
		}
		if len(in.Xattrs) != len(mn.xattrs) {
			return fmt.Errorf("inode %d: xattrs %v, model %v", ino, in.Xattrs, mn.xattrs)
		}
		for k, v := range mn.xattrs {
			if string(in.Xattrs[k]) != v {
				return fmt.Errorf("inode %d: xattr %q", ino, k)
			}
		}
		if err := sameExtents(in.Extents, mn.ext); err != nil {
			return fmt.Errorf("inode %d: %v", ino, err)
		}
		switch mn.mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			dirs++
			ents, err := t.ReadDir(ino)
			if err != nil || len(ents) != len(mn.entries) {
				return fmt.Errorf("dir %d: ReadDir %v %v, model %v", ino, ents, err, mn.entries)
			}
			for i, e := range ents {
				if mn.entries[e.Name] != e.Ino || i > 0 && ents[i-1].Name >= e.Name || e.Mode != m.nodes[e.Ino].mode {
					return fmt.Errorf("dir %d: entry %+v, model %v", ino, e, mn.entries)
				}
			}
		case syscall.S_IFREG:
			files++
			bytes += mn.size
		}
	}
	if f, d, b := t.Stats(); f != files || d != dirs || b != bytes {
		return fmt.Errorf("Stats %d %d %d, model %d %d %d", f, d, b, files, dirs, bytes)
	}
	// The object index (Referenced) counts exactly the model's extents.
	refs := map[crypt.ObjectID]int{}
	for _, mn := range m.nodes {
		for _, e := range mn.ext {
			if !e.IsHole() {
				refs[e.Object]++
			}
		}
	}
	if t.Objects() != len(refs) {
		return fmt.Errorf("tree references %d objects, model %d", t.Objects(), len(refs))
	}
	for id := range refs {
		if !t.Referenced(id) {
			return fmt.Errorf("object %s: referenced in the model, not in the tree's index", id)
		}
	}
	return nil
}

func sameExtents(got []Extent, want map[uint64]Extent) error {
	n := 0
	for i, e := range got {
		if !e.IsHole() {
			n++
			if want[uint64(i)] != e {
				return fmt.Errorf("extent %d = %v, model %v", i, e, want[uint64(i)])
			}
		}
	}
	if n != len(want) {
		return fmt.Errorf("extents %v, model %v", got, want)
	}
	return nil
}

// dropOrphans is what a remount does to the model.
func (m *model) dropOrphans() {
	ls := m.scan()
	for ino := range m.nodes {
		if ino != RootIno && ls.nlink(ino) == 0 {
			delete(m.nodes, ino)
		}
	}
}

func (m *model) unlink(p Ino, nm string, dir bool) error {
	pn, err := m.dir(p)
	if err != nil {
		return err
	}
	ino := pn.entries[nm]
	switch {
	case ino == 0:
		return syscall.ENOENT
	case !dir && m.isDir(ino):
		return syscall.EISDIR
	case dir && !m.isDir(ino):
		return syscall.ENOTDIR
	case dir && len(m.nodes[ino].entries) > 0:
		return syscall.ENOTEMPTY
	}
	delete(pn.entries, nm)
	return nil
}

func (m *model) setData(ino Ino, size uint64, sets map[int64]Extent) error {
	n := m.nodes[ino]
	switch {
	case n == nil:
		return syscall.ENOENT
	case m.isDir(ino):
		return syscall.EISDIR
	case n.mode&syscall.S_IFMT != syscall.S_IFREG:
		return syscall.EINVAL
	}
	for i, e := range sets {
		if e.IsHole() {
			delete(n.ext, uint64(i))
		} else {
			n.ext[uint64(i)] = e
		}
	}
	if sets == nil { // SetAttr: also changes the mode
		n.mode = syscall.S_IFREG | 0o640
	}
	m.clamp(n, size)
	return nil
}

func (m *model) setXattr(ino Ino, nm, val string, flags uint32) error {
	n := m.nodes[ino]
	if n == nil {
		return syscall.ENOENT
	}
	_, exists := n.xattrs[nm]
	switch {
	case exists && flags&XattrCreate != 0:
		return syscall.EEXIST
	case !exists && flags&XattrReplace != 0:
		return syscall.ENODATA
	}
	if n.xattrs == nil {
		n.xattrs = map[string]string{}
	}
	n.xattrs[nm] = val
	return nil
}
