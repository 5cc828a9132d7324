package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
)

// Node is the go-fuse node of one inode. It holds only the inode number;
// all state lives in the engine.
type Node struct {
	gofs.Inode
	v   *vault.Vault
	ino meta.Ino
}

var (
	_ = (gofs.NodeLookuper)((*Node)(nil))
	_ = (gofs.NodeOpendirHandler)((*Node)(nil))
	_ = (gofs.NodeMkdirer)((*Node)(nil))
	_ = (gofs.NodeMknoder)((*Node)(nil))
	_ = (gofs.NodeCreater)((*Node)(nil))
	_ = (gofs.NodeSymlinker)((*Node)(nil))
	_ = (gofs.NodeLinker)((*Node)(nil))
	_ = (gofs.NodeUnlinker)((*Node)(nil))
	_ = (gofs.NodeRmdirer)((*Node)(nil))
	_ = (gofs.NodeRenamer)((*Node)(nil))
	_ = (gofs.NodeStatfser)((*Node)(nil))
)

// caller returns the uid and gid of the process making the request.
func caller(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return 0, 0
}

// child makes the go-fuse inode for in under n and fills out.
func (n *Node) child(ctx context.Context, in meta.Inode, out *fuse.EntryOut) *gofs.Inode {
	fillAttr(&out.Attr, in)
	node := &Node{v: n.v, ino: in.Ino}
	return n.NewInode(ctx, node, gofs.StableAttr{Mode: in.Mode & syscall.S_IFMT, Ino: uint64(in.Ino)})
}

// Lookup implements gofs.NodeLookuper.
func (n *Node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	in, err := n.v.Lookup(n.ino, name)
	if err != nil {
		return nil, toErrno(err)
	}
	return n.child(ctx, in, out), 0
}

// OpendirHandle implements gofs.NodeOpendirHandler: a listing is a
// cursor over the directory (dir_stream.go), never the whole listing
// built per open. Where the tree changes only through this mount's kernel
// (not following, see entryTimeout), the kernel may keep what it listed
// whole in its page cache (FOPEN_CACHE_DIR) across opens
// (FOPEN_KEEP_CACHE), so a second find or du of a big tree lists nothing
// through FUSE. At each opendir and rewinddir it checks whether a create,
// unlink, link or rename went through in the folder since, and then lists
// it from sealfs again; a listing already reading the kernel's copy may
// still return a name removed meanwhile, which POSIX leaves open
// (TestReaddirStreams). A following mount's folders change with the
// writer's commits: they are listed afresh at each open.
func (n *Node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	parent := n.ino
	if _, p := n.Parent(); p != nil {
		parent = p.Operations().(*Node).ino
	}
	// The names are taken at the first read (dirStream.Readdirent);
	// DirNames allocates a slice of them, so opendir only checks.
	if in, err := n.v.Getattr(n.ino); err != nil {
		return nil, 0, toErrno(err)
	} else if !in.IsDir() {
		return nil, 0, syscall.ENOTDIR
	}
	var fuseFlags uint32
	if !n.v.Following() {
		fuseFlags = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
	}
	return &dirStream{v: n.v, dir: n.ino, parent: parent}, fuseFlags, 0
}

// Mkdir implements gofs.NodeMkdirer.
func (n *Node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	uid, gid := caller(ctx)
	in, err := n.v.Mkdir(n.ino, name, mode&^syscall.S_IFMT|syscall.S_IFDIR, uid, gid)
	if err != nil {
		return nil, toErrno(err)
	}
	return n.child(ctx, in, out), 0
}

// Mknod creates regular files, FIFOs, sockets (bind(2)) and device
// nodes: a backup made with rsync -a, tar or cp -a holds them all. Their
// metadata is stored like any inode's; the mount is nodev, so a device
// node in it never opens the device.
func (n *Node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	uid, gid := caller(ctx)
	in, err := n.v.Mknod(n.ino, name, mode, dev, uid, gid)
	if err != nil {
		return nil, toErrno(err)
	}
	return n.child(ctx, in, out), 0
}

// Create implements gofs.NodeCreater.
func (n *Node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	uid, gid := caller(ctx)
	in, err := n.v.Create(n.ino, name, mode&^syscall.S_IFMT|syscall.S_IFREG, uid, gid)
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	ch := n.child(ctx, in, out)
	h, err := ch.Operations().(*Node).open(ctx, flags)
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	return ch, h, 0, 0
}

// Symlink implements gofs.NodeSymlinker.
func (n *Node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	uid, gid := caller(ctx)
	in, err := n.v.Symlink(n.ino, name, target, uid, gid)
	if err != nil {
		return nil, toErrno(err)
	}
	return n.child(ctx, in, out), 0
}

// Link implements gofs.NodeLinker.
func (n *Node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	t, ok := target.(*Node)
	if !ok {
		return nil, syscall.EXDEV
	}
	in, err := n.v.Link(t.ino, n.ino, name)
	if err != nil {
		return nil, toErrno(err)
	}
	return n.child(ctx, in, out), 0
}

// Unlink implements gofs.NodeUnlinker.
func (n *Node) Unlink(ctx context.Context, name string) syscall.Errno {
	return toErrno(n.v.Unlink(n.ino, name))
}

// Rmdir implements gofs.NodeRmdirer.
func (n *Node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return toErrno(n.v.Rmdir(n.ino, name))
}

// Rename implements gofs.NodeRenamer.
func (n *Node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	p, ok := newParent.(*Node)
	if !ok {
		return syscall.EXDEV
	}
	return toErrno(n.v.Rename(n.ino, name, p.ino, newName, flags))
}

// Statfs reports the tree's usage; a bucket has no fixed capacity, so the
// free space is a large constant (as s3fs and rclone do).
func (n *Node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const (
		bsize = 4096
		free  = 1 << 50 / bsize // 1 PiB
		inos  = 1 << 32
	)
	files, dirs, bytes := n.v.Usage()
	used := (bytes + bsize - 1) / bsize
	out.Bsize, out.Frsize = bsize, bsize
	out.Blocks = used + free
	out.Bfree, out.Bavail = free, free
	out.Files = files + dirs + inos
	out.Ffree = inos
	out.NameLen = meta.MaxNameLen
	return 0
}
