package fs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
)

// Lookup implements fuse.RawFileSystem. "." and ".." come only from
// the kernel reconnecting a file handle (NFS export): they name the node
// itself and its folder's parent.
func (r *rawFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	dir := meta.Ino(h.NodeId)
	var in meta.Inode
	var err error
	switch name {
	case ".":
		in, err = r.v.Getattr(dir)
	case "..":
		var p meta.Ino
		if p, err = r.v.Tree().Parent(dir); err == nil {
			in, err = r.v.Getattr(p)
		}
	default:
		in, err = r.v.Lookup(dir, name)
		if err == nil {
			r.named(in, dir, name, out)
			return fuse.OK
		}
	}
	if err != nil {
		if e := toErrno(err); e == syscall.ENOENT && name != "." && name != ".." {
			// A negative entry, kept for negativeTimeout.
			out.NodeId = 0
			out.SetEntryTimeout(r.negativeTimeout)
			return fuse.OK
		}
		return status(err)
	}
	r.entry(in, out)
	return fuse.OK
}

// OpenDir implements fuse.RawFileSystem: a listing is a cursor over the
// directory (dir_stream.go), never the whole listing built per open.
// Where the tree changes only through this mount's kernel (not
// following, see entryTimeout), the kernel may keep what it listed whole
// in its page cache (FOPEN_CACHE_DIR) across opens (FOPEN_KEEP_CACHE), so
// a second find or du of a big tree lists nothing through FUSE. At each
// opendir and rewinddir it checks whether a create, unlink, link or
// rename went through in the folder since, and then lists it from sealfs
// again; a listing already reading the kernel's copy may still return a
// name removed meanwhile, which POSIX leaves open (TestReaddirStreams). A
// following mount's folders change with the writer's commits: they are
// listed afresh at each open.
func (r *rawFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	dir := meta.Ino(in.NodeId)
	// The names are taken at the first read (dirStream.read); DirNames
	// allocates a slice of them, so opendir only checks.
	parent, err := r.v.Tree().Parent(dir)
	if err != nil {
		return status(err)
	}
	if !r.v.Following() {
		out.OpenFlags = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
	}
	out.Fh = r.dirs.add(&dirStream{v: r.v, dir: dir, parent: parent})
	return fuse.OK
}

// ReadDir implements fuse.RawFileSystem.
func (r *rawFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	d, ok := r.dirs.get(in.Fh)
	if !ok {
		return errnoStatus(syscall.EBADF)
	}
	return d.read(in.Offset, out, nil)
}

// ReadDirPlus implements fuse.RawFileSystem: each entry with its
// attributes and node id, which the kernel then holds as if looked up.
// The kernel asks for it only while the lister stats what it lists
// (CAP_READDIRPLUS_AUTO, mount.go).
func (r *rawFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	d, ok := r.dirs.get(in.Fh)
	if !ok {
		return errnoStatus(syscall.EBADF)
	}
	return d.read(in.Offset, out, func(e meta.DirEntry, eo *fuse.EntryOut) {
		in, err := r.v.Getattr(e.Ino)
		if err != nil {
			// Gone since it was listed: no node id, no attributes, which
			// the kernel takes as "look it up if needed".
			return
		}
		r.named(in, d.dir, e.Name, eo)
		if in.Mode&syscall.S_IFMT != e.Mode&syscall.S_IFMT {
			out.FixMode(in.Mode)
		}
	})
}

// ReleaseDir implements fuse.RawFileSystem.
func (r *rawFS) ReleaseDir(in *fuse.ReleaseIn) {
	if d, ok := r.dirs.remove(in.Fh); ok {
		d.close()
	}
}

// FsyncDir implements fuse.RawFileSystem: fsync of a folder commits.
func (r *rawFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return status(r.v.FsyncDir(reqContext(&in.InHeader, cancel)))
}

// Mkdir implements fuse.RawFileSystem.
func (r *rawFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	uid, gid := caller(&in.InHeader)
	child, err := r.v.Mkdir(meta.Ino(in.NodeId), name, in.Mode&^syscall.S_IFMT|syscall.S_IFDIR, uid, gid)
	if err != nil {
		return status(err)
	}
	r.named(child, meta.Ino(in.NodeId), name, out)
	return fuse.OK
}

// Mknod creates regular files, FIFOs, sockets (bind(2)) and device
// nodes: a backup made with rsync -a, tar or cp -a holds them all. Their
// metadata is stored like any inode's; the mount is nodev, so a device
// node in it never opens the device.
func (r *rawFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	uid, gid := caller(&in.InHeader)
	child, err := r.v.Mknod(meta.Ino(in.NodeId), name, in.Mode, in.Rdev, uid, gid)
	if err != nil {
		return status(err)
	}
	r.named(child, meta.Ino(in.NodeId), name, out)
	return fuse.OK
}

// Create implements fuse.RawFileSystem: create and open.
func (r *rawFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	uid, gid := caller(&in.InHeader)
	dir := meta.Ino(in.NodeId)
	child, err := r.v.Create(dir, name, in.Mode&^syscall.S_IFMT|syscall.S_IFREG, uid, gid)
	if err != nil {
		return status(err)
	}
	fh, err := r.open(&in.InHeader, child.Ino, in.Flags, meta.Place{Parent: dir, Name: name}, true)
	if err != nil {
		return status(err)
	}
	r.named(child, dir, name, &out.EntryOut)
	out.Fh = fh
	return fuse.OK
}

// Symlink implements fuse.RawFileSystem.
func (r *rawFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	uid, gid := caller(h)
	child, err := r.v.Symlink(meta.Ino(h.NodeId), name, target, uid, gid)
	if err != nil {
		return status(err)
	}
	r.named(child, meta.Ino(h.NodeId), name, out)
	return fuse.OK
}

// Link implements fuse.RawFileSystem.
func (r *rawFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	child, err := r.v.Link(meta.Ino(in.Oldnodeid), meta.Ino(in.NodeId), name)
	if err != nil {
		return status(err)
	}
	r.named(child, meta.Ino(in.NodeId), name, out)
	return fuse.OK
}

// Unlink implements fuse.RawFileSystem.
func (r *rawFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return status(r.v.Unlink(meta.Ino(h.NodeId), name))
}

// Rmdir implements fuse.RawFileSystem.
func (r *rawFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return status(r.v.Rmdir(meta.Ino(h.NodeId), name))
}

// Rename implements fuse.RawFileSystem (rename2's flags included).
func (r *rawFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, name, newName string) fuse.Status {
	dir, newDir := meta.Ino(in.NodeId), meta.Ino(in.Newdir)
	if err := r.v.Rename(dir, name, newDir, newName, in.Flags); err != nil {
		return status(err)
	}
	// The kernel moves its entry and asks no lookup: the name cache
	// follows here, so that an open by the new name is named by it.
	r.renamed(newDir, newName)
	if in.Flags&meta.RenameExchange != 0 {
		r.renamed(dir, name)
	}
	return fuse.OK
}

// Statfs reports the tree's usage; a bucket has no fixed capacity, so the
// free space is a large constant (as s3fs and rclone do).
func (r *rawFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	const (
		bsize = 4096
		free  = 1 << 50 / bsize // 1 PiB
		inos  = 1 << 32
	)
	files, dirs, bytes := r.v.Usage()
	used := (bytes + bsize - 1) / bsize
	out.Bsize, out.Frsize = bsize, bsize
	out.Blocks = used + free
	out.Bfree, out.Bavail = free, free
	out.Files = files + dirs + inos
	out.Ffree = inos
	out.NameLen = meta.MaxNameLen
	return fuse.OK
}
