package meta

import (
	"errors"
	"fmt"
	"slices"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
)

// opKind names one journal operation. The values are part of the format
// (docs/FORMAT.md, "Metadata payloads"): never renumber.
type opKind byte

const (
	opInode       opKind = 1 // create or overwrite an inode's attributes
	opLink        opKind = 2 // add a directory entry
	opUnlink      opKind = 3 // remove a directory entry
	opDrop        opKind = 4 // forget an inode with nlink 0
	opSetXattr    opKind = 5 // set one extended attribute
	opRemoveXattr opKind = 6 // remove one extended attribute
	opExtents     opKind = 7 // change some extents and the length of the list
	// 8 is opInode2 (encode.go): opInode's wire form in version-2 batches.
)

// op is one state change. Ops set state rather than repeat a POSIX call, so
// applying them needs no policy: the live Tree applies exactly the ops it
// journals (see Tree.do), which makes replay equal the live state by
// construction. Which fields are used depends on kind.
type op struct {
	kind   opKind
	ino    Ino
	parent Ino    // opLink, opUnlink
	name   string // entry name (opLink, opUnlink) or xattr name
	attr   Attr   // opInode
	target string // opInode (symlinks only)
	value  []byte // opSetXattr
	nExt   uint64 // opExtents: length of the list afterwards
	sets   []indexedExtent
}

// indexedExtent sets Extents[Index]; sorted by Index, strictly increasing.
type indexedExtent struct {
	Index uint64
	Extent
}

// errCorrupt is wrapped by every apply/decode failure of stored metadata.
var errCorrupt = errors.New("meta: corrupt metadata")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// apply changes the tree state by one op. It validates everything it relies
// on so that a bad op (a bug, or bytes that decoded but make no sense) is an
// error and never a panic or an inconsistent tree. The caller holds t.mu.
func (t *Tree) apply(o *op) error {
	switch o.kind {
	case opInode:
		return t.applyInode(o)
	case opLink:
		return t.applyLink(o)
	case opUnlink:
		return t.applyUnlink(o)
	case opDrop:
		return t.applyDrop(o)
	case opSetXattr, opRemoveXattr:
		return t.applyXattr(o)
	case opExtents:
		return t.applyExtents(o)
	}
	return corrupt("unknown op %d", o.kind)
}

func (t *Tree) applyInode(o *op) error {
	if o.ino == 0 {
		return corrupt("inode 0")
	}
	typ := o.attr.Mode & syscall.S_IFMT
	if !validType(o.attr.Mode) {
		return corrupt("inode %d: mode %o", o.ino, o.attr.Mode)
	}
	if o.attr.Rdev != 0 && !isDevice(o.attr.Mode) || o.attr.Size != 0 && isSpecial(o.attr.Mode) {
		return corrupt("inode %d: rdev or size on mode %o", o.ino, o.attr.Mode)
	}
	if o.target != "" && typ != syscall.S_IFLNK {
		return corrupt("inode %d: target on a non-symlink", o.ino)
	}
	n := t.ins.node(o.ino)
	if n == nil {
		if o.ino == RootIno && typ != syscall.S_IFDIR {
			return corrupt("root is not a directory")
		}
		n = t.ins.insert(o.ino, Attr{Mode: typ})
		if typ == syscall.S_IFDIR {
			t.ins.dirs[o.ino] = newDir()
		}
		t.count(n.attr, 1)
		t.next = max(t.next, o.ino+1)
	} else if n.attr.Mode&syscall.S_IFMT != typ {
		return corrupt("inode %d changes type", o.ino)
	}
	if o.attr.Size > MaxFileSize || (typ == syscall.S_IFLNK && o.attr.Size != uint64(len(o.target))) {
		return corrupt("inode %d: size %d", o.ino, o.attr.Size)
	}
	t.count(n.attr, -1)
	n.attr = o.attr
	if o.target != "" {
		t.ins.targets[o.ino] = o.target
	} else {
		delete(t.ins.targets, o.ino)
	}
	t.count(n.attr, 1)
	return nil
}

// count adds sign times n to the Stats counters.
func (t *Tree) count(a Attr, sign int) {
	d := uint64(sign) // two's complement: -1 subtracts
	switch {
	case a.IsRegular():
		t.files += d
		t.bytes += d * a.Size
	case a.IsDir():
		t.dirs += d
	}
}

func (t *Tree) applyLink(o *op) error {
	p, err := t.dirNode(o.parent)
	if err != nil {
		return err
	}
	if CheckName(o.name) != nil {
		return corrupt("bad name in dir %d", o.parent)
	}
	if _, dup := p.get(o.name); dup {
		return corrupt("dir %d: duplicate entry", o.parent)
	}
	c := t.ins.node(o.ino)
	if c == nil || o.ino == RootIno {
		return corrupt("dir %d: entry for inode %d", o.parent, o.ino)
	}
	if c.attr.IsDir() {
		cd := t.ins.dirs[o.ino]
		if cd.parent != 0 {
			return corrupt("dir %d linked twice", o.ino)
		}
		for a := o.parent; a != 0; a = t.ins.dirs[a].parent {
			if a == o.ino {
				return corrupt("dir %d linked into itself", o.ino)
			}
		}
		cd.parent = o.parent
	}
	p.add(o.name, o.ino)
	return nil
}

func (t *Tree) applyUnlink(o *op) error {
	p, err := t.dirNode(o.parent)
	if err != nil {
		return err
	}
	if _, ok := p.get(o.name); !ok {
		return corrupt("dir %d: unlink of a missing entry", o.parent)
	}
	ino := p.del(o.name)
	if c := t.ins.dirs[ino]; c != nil {
		c.parent = 0 // a rename links it again next
	}
	return nil
}

func (t *Tree) dirNode(ino Ino) (*dir, error) {
	n := t.ins.node(ino)
	if n == nil || !n.attr.IsDir() {
		return nil, corrupt("inode %d is not a directory", ino)
	}
	return t.ins.dirs[ino], nil
}

func (t *Tree) applyDrop(o *op) error {
	n := t.ins.node(o.ino)
	if n == nil || n.attr.Nlink != 0 || o.ino == RootIno {
		return corrupt("drop of inode %d", o.ino)
	}
	if d := t.ins.dirs[o.ino]; d != nil && (d.parent != 0 || d.live != 0) {
		return corrupt("drop of inode %d", o.ino)
	}
	t.forget(o.ino, n)
	return nil
}

// forget removes inode ino (rec n) from the tree and from the counts
// that include it. The caller holds t.mu.
func (t *Tree) forget(ino Ino, n *rec) {
	t.count(n.attr, -1)
	for _, e := range t.ins.extents(n) {
		t.ref(e, -1)
	}
	t.ins.setExtents(n, nil)
	t.ins.remove(ino)
}

func (t *Tree) applyXattr(o *op) error {
	n := t.ins.node(o.ino)
	if n == nil || o.name == "" || len(o.name) > MaxXattrNameLen || len(o.value) > MaxXattrValueLen {
		return corrupt("xattr on inode %d", o.ino)
	}
	x := t.ins.xattrs[o.ino]
	if o.kind == opRemoveXattr {
		if _, ok := x[o.name]; !ok {
			return corrupt("remove of a missing xattr on inode %d", o.ino)
		}
		delete(x, o.name)
		if len(x) == 0 {
			delete(t.ins.xattrs, o.ino)
		}
		return nil
	}
	if x == nil {
		x = make(map[string][]byte)
		t.ins.xattrs[o.ino] = x
	}
	x[o.name] = slices.Clone(o.value)
	return nil
}

func (t *Tree) applyExtents(o *op) error {
	n := t.ins.node(o.ino)
	if n == nil || !n.attr.IsRegular() {
		return corrupt("extents of inode %d", o.ino)
	}
	// Every batch has an opInode of this inode before its opExtents, and
	// coalescing keeps the latest attributes in it, so the size here is the
	// one the extents were cut to. That bounds the allocation below by the
	// file size. Whether each extent ends within the size is checked once
	// the whole batch is applied (checkFile): coalescing makes the states
	// between two ops of one batch not states the tree ever had.
	chunk := uint64(t.chunk)
	if o.nExt > (n.attr.Size+chunk-1)/chunk {
		return corrupt("inode %d: %d extents for %d bytes", o.ino, o.nExt, n.attr.Size)
	}
	for i, s := range o.sets {
		if s.Index >= o.nExt || (i > 0 && s.Index <= o.sets[i-1].Index) || checkExtent(s.Extent, t.chunk) != nil {
			return corrupt("inode %d: extent %d", o.ino, s.Index)
		}
	}
	// The references the op removes, counted before the list changes
	// in place: the extents cut off and those the sets replace.
	old := t.ins.extents(n)
	if last := len(o.sets) - 1; o.nExt > 0 && (last < 0 || o.sets[last].Index != o.nExt-1) &&
		(o.nExt > uint64(len(old)) || old[o.nExt-1].IsHole()) {
		return corrupt("inode %d: extent list ends with a hole", o.ino)
	}
	if last := len(o.sets) - 1; last >= 0 && o.sets[last].Index == o.nExt-1 && o.sets[last].IsHole() {
		return corrupt("inode %d: extent list ends with a hole", o.ino)
	}
	for i := o.nExt; i < uint64(len(old)); i++ {
		t.ref(old[i], -1)
	}
	for _, s := range o.sets {
		if s.Index < uint64(len(old)) {
			t.ref(old[s.Index], -1)
		}
		t.ref(s.Extent, 1)
		t.noteContent(s.Extent)
	}
	if o.nExt <= uint64(len(old)) {
		// In place: the list keeps or shrinks its length.
		for _, s := range o.sets {
			old[s.Index] = s.Extent
		}
		t.ins.setExtents(n, old[:o.nExt])
		return nil
	}
	ext := make([]Extent, o.nExt)
	copy(ext, old)
	for _, s := range o.sets {
		ext[s.Index] = s.Extent
	}
	t.ins.setExtents(n, ext)
	return nil
}

// checkFile verifies what single ops cannot: a file's extents end within its
// size. The caller holds t.mu.
func (t *Tree) checkFile(ino Ino) error {
	n := t.ins.node(ino)
	if n != nil && !extentsFit(t.ins.extents(n), n.attr.Size, t.chunk) {
		return corrupt("inode %d: extents past the size %d", ino, n.attr.Size)
	}
	return nil
}

// maxExtents is the longest extent list of a file of MaxFileSize bytes.
func maxExtents(chunk int) uint64 { return (MaxFileSize + uint64(chunk) - 1) / uint64(chunk) }

// checkExtent validates one extent on its own.
func checkExtent(e Extent, chunk int) error {
	if e.IsHole() {
		if e != (Extent{}) {
			return syscall.EINVAL
		}
		return nil
	}
	stored := e.Length
	if e.Compressed() {
		stored = e.Stored
	}
	if e.Length == 0 || e.Length > uint32(chunk) || e.ObjectSize > crypt.MaxObjectSize ||
		uint64(e.Offset)+uint64(stored) > uint64(e.ObjectSize) {
		return syscall.EINVAL
	}
	return nil
}

// extentsFit reports whether no extent reaches past size.
func extentsFit(ext []Extent, size uint64, chunk int) bool {
	if len(ext) == 0 {
		return true
	}
	last := uint64(len(ext) - 1)
	return last*uint64(chunk)+uint64(ext[last].Length) <= size
}
