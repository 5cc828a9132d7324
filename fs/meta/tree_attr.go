package meta

import (
	"slices"
	"sort"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
)

// SetAttr changes the attributes named in in; ctime becomes now. A size
// change truncates or extends a regular file (EISDIR for a directory, EINVAL
// for a symlink), sets mtime to now and makes bytes past the new size read as
// zeros even if the file grows again.
func (t *Tree) SetAttr(ino Ino, in SetAttrIn, now int64) (Inode, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.ins.node(ino)
	if n == nil {
		return Inode{}, syscall.ENOENT
	}
	a := n.attr
	if in.Size != nil {
		switch {
		case a.IsDir():
			return Inode{}, syscall.EISDIR
		case !a.IsRegular():
			return Inode{}, syscall.EINVAL
		case *in.Size > MaxFileSize:
			return Inode{}, syscall.EFBIG
		}
		a.Size, a.Mtime = *in.Size, now
	}
	if in.Mode != nil {
		a.Mode = a.Mode&syscall.S_IFMT | *in.Mode&0o7777
	}
	setIf(&a.Uid, in.Uid)
	setIf(&a.Gid, in.Gid)
	setIf(&a.Atime, in.Atime)
	setIf(&a.Mtime, in.Mtime)
	a.Ctime = now
	t.setFile(ino, a, nil)
	return t.copy(ino, n), nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// SetFileData publishes written data: the extents for the given chunk
// indexes (a hole Extent clears one), the new size (extents past it are
// dropped or clamped), mtime and ctime. One journal op, applied atomically.
// A bad extent or chunk index is EINVAL; a size past MaxFileSize is EFBIG.
func (t *Tree) SetFileData(ino Ino, size uint64, extents map[int64]Extent, mtime int64) error {
	_, err := t.SetFileDataShared(ino, size, extents, mtime, nil)
	return err
}

// SetFileDataShared is SetFileData for extents of which some reference
// objects the writer did not upload but found already referenced
// (deduplicated): shared names those objects. It returns the ones no
// extent of the tree referenced any more when the change was applied
// (under the same lock, so no concurrent change slips in between): the
// tree then holds the only reference to them, and the writer must make
// sure they stay in the store (fs/vault: dedup.go).
func (t *Tree) SetFileDataShared(ino Ino, size uint64, extents map[int64]Extent, mtime int64, shared []crypt.ObjectID) (unreferenced []crypt.ObjectID, err error) {
	if size > MaxFileSize {
		return nil, syscall.EFBIG
	}
	sets := make(map[uint64]Extent, len(extents))
	for i, e := range extents {
		if !e.IsHole() && e.Length == 0 {
			e = Extent{} // references no byte: a hole
		}
		if i < 0 || uint64(i) >= maxExtents(t.chunk) || checkExtent(e, t.chunk) != nil {
			return nil, syscall.EINVAL
		}
		sets[uint64(i)] = e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.ins.node(ino)
	switch {
	case n == nil:
		return nil, syscall.ENOENT
	case n.attr.IsDir():
		return nil, syscall.EISDIR
	case !n.attr.IsRegular():
		return nil, syscall.EINVAL
	}
	for _, id := range shared {
		if t.refs[id] == 0 {
			unreferenced = append(unreferenced, id)
		}
	}
	a := n.attr
	// ctime never goes back: a chmod, link or rename after the last write
	// (published later) is the later change.
	a.Size, a.Mtime, a.Ctime = size, mtime, max(a.Ctime, mtime)
	t.setFile(ino, a, sets)
	return unreferenced, nil
}

// setFile journals new attributes a of inode ino and, for a regular file,
// the extents changed by sets plus whatever the size a.Size cuts off. The
// caller holds t.mu.
func (t *Tree) setFile(ino Ino, a Attr, sets map[uint64]Extent) {
	n := t.ins.node(ino)
	if !a.IsRegular() {
		t.do(&op{kind: opInode, ino: ino, attr: a, target: t.ins.targets[ino]})
		return
	}
	cur := t.ins.extents(n) // read before the ops below change it
	ext := slices.Clone(cur)
	for i, e := range sets {
		for uint64(len(ext)) <= i {
			ext = append(ext, Extent{})
		}
		ext[i] = e
	}
	ext = clampExtents(ext, a.Size, uint64(t.chunk))
	changed := make(map[uint64]Extent)
	for i, e := range ext {
		if i >= len(cur) || cur[i] != e {
			changed[uint64(i)] = e
		}
	}
	t.do(&op{kind: opInode, ino: ino, attr: a})
	if len(changed) > 0 || len(ext) != len(cur) {
		t.do(&op{kind: opExtents, ino: ino, nExt: uint64(len(ext)), sets: sortedSets(changed, uint64(len(ext)))})
	}
}

// clampExtents cuts ext to the chunks below size, shortens the one the size
// ends in, and drops trailing holes.
func clampExtents(ext []Extent, size, chunk uint64) []Extent {
	n := (size + chunk - 1) / chunk
	if uint64(len(ext)) > n {
		ext = ext[:n]
	}
	if l := uint64(len(ext)); l > 0 && !ext[l-1].IsHole() {
		if end := (l-1)*chunk + uint64(ext[l-1].Length); end > size {
			ext[l-1].Length -= uint32(end - size)
			if ext[l-1].Length == 0 {
				ext[l-1] = Extent{}
			}
		}
	}
	for len(ext) > 0 && ext[len(ext)-1].IsHole() {
		ext = ext[:len(ext)-1]
	}
	return ext
}

// GetXattr returns the value of extended attribute name (ENODATA if unset).
func (t *Tree) GetXattr(ino Ino, name string) ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.ins.node(ino)
	if n == nil {
		return nil, syscall.ENOENT
	}
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	v, ok := t.ins.xattrs[ino][name]
	if !ok {
		return nil, syscall.ENODATA
	}
	return slices.Clone(v), nil
}

// ListXattr returns the names of the extended attributes, sorted.
func (t *Tree) ListXattr(ino Ino) ([]string, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.ins.node(ino)
	if n == nil {
		return nil, syscall.ENOENT
	}
	x := t.ins.xattrs[ino]
	names := make([]string, 0, len(x))
	for k := range x {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}

// SetXattr sets extended attribute name. flags may hold XattrCreate (EEXIST
// if set) or XattrReplace (ENODATA if unset). A name over 255 bytes is
// ERANGE, a value over 64 KiB E2BIG, as on Linux.
func (t *Tree) SetXattr(ino Ino, name string, value []byte, flags uint32, now int64) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	switch {
	case len(value) > MaxXattrValueLen:
		return syscall.E2BIG
	case flags&^(XattrCreate|XattrReplace) != 0:
		return syscall.EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.ins.node(ino)
	if n == nil {
		return syscall.ENOENT
	}
	_, exists := t.ins.xattrs[ino][name]
	switch {
	case exists && flags&XattrCreate != 0:
		return syscall.EEXIST
	case !exists && flags&XattrReplace != 0:
		return syscall.ENODATA
	}
	t.do(&op{kind: opSetXattr, ino: ino, name: name, value: slices.Clone(value)})
	t.touchCtime(ino, now)
	return nil
}

// RemoveXattr removes extended attribute name (ENODATA if unset).
func (t *Tree) RemoveXattr(ino Ino, name string, now int64) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.ins.node(ino)
	if n == nil {
		return syscall.ENOENT
	}
	if _, ok := t.ins.xattrs[ino][name]; !ok {
		return syscall.ENODATA
	}
	t.do(&op{kind: opRemoveXattr, ino: ino, name: name})
	t.touchCtime(ino, now)
	return nil
}

func (t *Tree) touchCtime(ino Ino, now int64) {
	a := t.ins.node(ino).attr
	a.Ctime = now
	t.do(&op{kind: opInode, ino: ino, attr: a, target: t.ins.targets[ino]})
}

func checkXattrName(name string) error {
	if name == "" || len(name) > MaxXattrNameLen {
		return syscall.ERANGE
	}
	return nil
}
