package meta

import "syscall"

// Create adds a regular file (mode has S_IFREG or no type bits).
func (t *Tree) Create(parent Ino, name string, mode, uid, gid uint32, now int64) (Inode, error) {
	if typ := mode & syscall.S_IFMT; typ != 0 && typ != syscall.S_IFREG {
		return Inode{}, syscall.EINVAL
	}
	return t.newNode(parent, name, Attr{Mode: syscall.S_IFREG | mode&0o7777, Uid: uid, Gid: gid, Nlink: 1}, "", now)
}

// Mknod adds an inode of any type that has no data: a FIFO, a socket or a
// character or block device (rdev, for devices only), as mknod(2); type 0
// or S_IFREG makes a regular file, as Create. Directories and symlinks
// have their own calls (EINVAL here).
func (t *Tree) Mknod(parent Ino, name string, mode, rdev, uid, gid uint32, now int64) (Inode, error) {
	typ := mode & syscall.S_IFMT
	switch {
	case typ == 0 || typ == syscall.S_IFREG:
		return t.Create(parent, name, mode&0o7777, uid, gid, now)
	case !isSpecial(mode):
		return Inode{}, syscall.EINVAL
	case !isDevice(mode):
		rdev = 0
	}
	return t.newNode(parent, name, Attr{Mode: typ | mode&0o7777, Uid: uid, Gid: gid, Nlink: 1, Rdev: rdev}, "", now)
}

// Mkdir adds a directory.
func (t *Tree) Mkdir(parent Ino, name string, mode, uid, gid uint32, now int64) (Inode, error) {
	return t.newNode(parent, name, Attr{Mode: syscall.S_IFDIR | mode&0o7777, Uid: uid, Gid: gid, Nlink: 2}, "", now)
}

// Symlink adds a symbolic link to target (1..MaxSymlinkLen bytes).
func (t *Tree) Symlink(parent Ino, name, target string, uid, gid uint32, now int64) (Inode, error) {
	switch {
	case target == "":
		return Inode{}, syscall.ENOENT
	case len(target) > MaxSymlinkLen:
		return Inode{}, syscall.ENAMETOOLONG
	}
	a := Attr{Mode: syscall.S_IFLNK | 0o777, Uid: uid, Gid: gid, Nlink: 1, Size: uint64(len(target))}
	return t.newNode(parent, name, a, target, now)
}

// newNode creates an inode with attributes a under parent/name.
func (t *Tree) newNode(parent Ino, name string, a Attr, target string, now int64) (Inode, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := t.freeName(parent, name); err != nil {
		return Inode{}, err
	}
	ino := t.next
	a.Atime, a.Mtime, a.Ctime = now, now, now
	t.do(&op{kind: opInode, ino: ino, attr: a, target: target})
	t.do(&op{kind: opLink, parent: parent, name: name, ino: ino})
	pa := t.ins.node(parent).attr // p's rec moved with the insertion
	if a.IsDir() {
		pa.Nlink++
	}
	t.touchDir(parent, pa, now)
	return t.copy(ino, t.ins.node(ino)), nil
}

// freeName checks that parent is a live directory without an entry name.
func (t *Tree) freeName(parent Ino, name string) (dirNode, error) {
	p, ino, err := t.lookup(parent, name)
	switch {
	case err == nil && ino != 0:
		return dirNode{}, syscall.EEXIST
	case err != syscall.ENOENT || p.rec == nil:
		return dirNode{}, err
	case p.attr.Nlink == 0:
		return dirNode{}, syscall.ENOENT // removed directory still open
	}
	return p, nil
}

// touchDir journals directory attributes a with mtime and ctime set to now.
func (t *Tree) touchDir(ino Ino, a Attr, now int64) {
	a.Mtime, a.Ctime = now, now
	t.do(&op{kind: opInode, ino: ino, attr: a})
}

// setNlink journals inode ino with nlink changed by delta and ctime now.
func (t *Tree) setNlink(ino Ino, delta int, now int64) {
	a := t.ins.node(ino).attr
	a.Nlink = uint32(int(a.Nlink) + delta)
	a.Ctime = now
	t.do(&op{kind: opInode, ino: ino, attr: a, target: t.ins.targets[ino]})
}

// Link adds a hard link newParent/newName to the non-directory ino.
func (t *Tree) Link(ino, newParent Ino, newName string, now int64) (Inode, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.ins.node(ino)
	switch {
	case n == nil || n.attr.Nlink == 0:
		return Inode{}, syscall.ENOENT
	case n.attr.IsDir():
		return Inode{}, syscall.EPERM
	case n.attr.Nlink == ^uint32(0):
		return Inode{}, syscall.EMLINK
	}
	p, err := t.freeName(newParent, newName)
	if err != nil {
		return Inode{}, err
	}
	t.do(&op{kind: opLink, parent: newParent, name: newName, ino: ino})
	t.setNlink(ino, 1, now)
	t.touchDir(newParent, p.attr, now)
	return t.copy(ino, t.ins.node(ino)), nil
}

// Unlink removes a non-directory name and decrements nlink. An inode whose
// nlink reaches 0 stays readable until Release(ino) (open-unlinked files).
func (t *Tree) Unlink(parent Ino, name string, now int64) (Ino, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ino, err := t.lookup(parent, name)
	if err != nil {
		return 0, err
	}
	if t.ins.node(ino).attr.IsDir() {
		return 0, syscall.EISDIR
	}
	t.do(&op{kind: opUnlink, parent: parent, name: name})
	t.setNlink(ino, -1, now)
	t.touchDir(parent, p.attr, now)
	return ino, nil
}

// Rmdir removes an empty directory; it stays readable (empty, nlink 0)
// until Release.
func (t *Tree) Rmdir(parent Ino, name string, now int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ino, err := t.lookup(parent, name)
	if err != nil {
		return err
	}
	c := t.ins.node(ino)
	switch {
	case !c.attr.IsDir():
		return syscall.ENOTDIR
	case t.ins.dirs[ino].live > 0:
		return syscall.ENOTEMPTY
	}
	t.do(&op{kind: opUnlink, parent: parent, name: name})
	t.setNlink(ino, -int(c.attr.Nlink), now)
	pa := p.attr
	pa.Nlink--
	t.touchDir(parent, pa, now)
	return nil
}

// Release forgets an inode with nlink 0 once nothing has it open. It does
// nothing for an inode that still has a name.
func (t *Tree) Release(ino Ino) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.ins.node(ino); n != nil && n.attr.Nlink == 0 && ino != RootIno {
		t.do(&op{kind: opDrop, ino: ino})
	}
}
