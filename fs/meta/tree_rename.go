package meta

import "syscall"

// Rename moves a name; replacing a file or an empty directory; flags are
// RenameNoReplace / RenameExchange. It returns the inode that was replaced
// (0 if none), which like Unlink lives on until Release if it reached nlink 0.
// Moving a directory is O(1) whatever it holds.
func (t *Tree) Rename(oldParent Ino, oldName string, newParent Ino, newName string, flags uint32, now int64) (Ino, error) {
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return 0, syscall.EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, src, err := t.lookup(oldParent, oldName)
	if err != nil {
		return 0, err
	}
	np, err := t.dir(newParent)
	if err != nil {
		return 0, err
	}
	if err := CheckName(newName); err != nil {
		return 0, err
	}
	if np.attr.Nlink == 0 {
		return 0, syscall.ENOENT
	}
	if t.within(newParent, src) {
		return 0, syscall.EINVAL // a directory into its own subtree
	}
	dst, exists := np.get(newName)
	if flags == RenameExchange {
		return 0, t.exchange(oldParent, oldName, src, newParent, newName, dst, exists, now)
	}
	if exists {
		if err := t.checkReplace(src, dst, flags); err != nil || dst == src {
			return 0, err // renaming a name onto itself or a hard link of it does nothing
		}
	}
	t.move(oldParent, oldName, src, newParent, newName, dst, exists, now)
	return dst, nil
}

// within reports whether ino is dir or inside directory dir.
func (t *Tree) within(ino, dir Ino) bool {
	if !t.ins.node(dir).attr.IsDir() {
		return false
	}
	for a := ino; a != 0; {
		d := t.ins.dirs[a]
		if d == nil {
			return false // a non-directory is not dir
		}
		if a == dir {
			return true
		}
		a = d.parent
	}
	return false
}

// checkReplace says whether src may replace the existing entry dst.
func (t *Tree) checkReplace(src, dst Ino, flags uint32) error {
	s, d := t.ins.node(src), t.ins.node(dst)
	switch {
	case flags == RenameNoReplace:
		return syscall.EEXIST
	case dst == src:
		return nil
	case s.attr.IsDir() && !d.attr.IsDir():
		return syscall.ENOTDIR
	case !s.attr.IsDir() && d.attr.IsDir():
		return syscall.EISDIR
	case t.ins.dirs[dst] != nil && t.ins.dirs[dst].live > 0:
		return syscall.ENOTEMPTY
	}
	return nil
}

// move carries out a checked rename, replacing dst if exists.
func (t *Tree) move(oldParent Ino, oldName string, src, newParent Ino, newName string, dst Ino, exists bool, now int64) {
	delta := parentDelta{oldParent: oldParent, newParent: newParent}
	if exists {
		t.do(&op{kind: opUnlink, parent: newParent, name: newName})
		d := t.ins.node(dst)
		if d.attr.IsDir() {
			t.setNlink(dst, -int(d.attr.Nlink), now)
			delta.dNew--
		} else {
			t.setNlink(dst, -1, now)
		}
	}
	t.do(&op{kind: opUnlink, parent: oldParent, name: oldName})
	t.do(&op{kind: opLink, parent: newParent, name: newName, ino: src})
	if t.ins.node(src).attr.IsDir() {
		delta.dOld--
		delta.dNew++
	}
	t.setNlink(src, 0, now)
	t.touchParents(delta, now)
}

// exchange swaps two names atomically (RENAME_EXCHANGE).
func (t *Tree) exchange(oldParent Ino, oldName string, src, newParent Ino, newName string, dst Ino, exists bool, now int64) error {
	switch {
	case !exists:
		return syscall.ENOENT
	case dst == src:
		return nil
	case t.within(oldParent, dst):
		return syscall.EINVAL
	}
	t.do(&op{kind: opUnlink, parent: oldParent, name: oldName})
	t.do(&op{kind: opUnlink, parent: newParent, name: newName})
	t.do(&op{kind: opLink, parent: newParent, name: newName, ino: src})
	t.do(&op{kind: opLink, parent: oldParent, name: oldName, ino: dst})
	delta := parentDelta{oldParent: oldParent, newParent: newParent}
	if t.ins.node(src).attr.IsDir() {
		delta.dOld--
		delta.dNew++
	}
	if t.ins.node(dst).attr.IsDir() {
		delta.dNew--
		delta.dOld++
	}
	t.setNlink(src, 0, now)
	t.setNlink(dst, 0, now)
	t.touchParents(delta, now)
	return nil
}

// touchParents applies nlink deltas to the parents of a rename and sets
// their mtime and ctime.
func (t *Tree) touchParents(d parentDelta, now int64) {
	if d.oldParent == d.newParent {
		d.dOld += d.dNew
	} else {
		a := t.ins.node(d.newParent).attr
		a.Nlink = uint32(int(a.Nlink) + d.dNew)
		t.touchDir(d.newParent, a, now)
	}
	a := t.ins.node(d.oldParent).attr
	a.Nlink = uint32(int(a.Nlink) + d.dOld)
	t.touchDir(d.oldParent, a, now)
}

// parentDelta are the nlink changes of the two parents of a rename.
type parentDelta struct {
	oldParent, newParent Ino
	dOld, dNew           int
}
