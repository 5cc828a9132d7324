package fs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
)

var (
	_ = (gofs.NodeGetattrer)((*Node)(nil))
	_ = (gofs.NodeSetattrer)((*Node)(nil))
	_ = (gofs.NodeOpener)((*Node)(nil))
	_ = (gofs.NodeReadlinker)((*Node)(nil))
	_ = (gofs.NodeFsyncer)((*Node)(nil))
	_ = (gofs.NodeGetxattrer)((*Node)(nil))
	_ = (gofs.NodeSetxattrer)((*Node)(nil))
	_ = (gofs.NodeListxattrer)((*Node)(nil))
	_ = (gofs.NodeRemovexattrer)((*Node)(nil))
)

// blockSize is st_blksize: the I/O size we ask applications to use.
const blockSize = 128 << 10

// fillAttr converts meta attributes to FUSE ones. The inode number is the
// vault's, so it is stable across mounts.
func fillAttr(out *fuse.Attr, in meta.Inode) {
	out.Ino = uint64(in.Ino)
	out.Mode = in.Mode
	out.Nlink = in.Nlink
	out.Owner = fuse.Owner{Uid: in.Uid, Gid: in.Gid}
	out.Size = in.Size
	out.Rdev = in.Rdev
	if in.Mode&syscall.S_IFMT == syscall.S_IFLNK {
		out.Size = uint64(len(in.Target))
	}
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = blockSize
	out.Atime, out.Atimensec = split(in.Atime)
	out.Mtime, out.Mtimensec = split(in.Mtime)
	out.Ctime, out.Ctimensec = split(in.Ctime)
}

func split(ns int64) (uint64, uint32) {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	return uint64(sec), uint32(nsec)
}

// Getattr implements gofs.NodeGetattrer.
func (n *Node) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	in, err := n.v.Getattr(n.ino)
	if err != nil {
		return toErrno(err)
	}
	fillAttr(&out.Attr, in)
	return 0
}

// Setattr implements gofs.NodeSetattrer.
func (n *Node) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var s meta.SetAttrIn
	if m, ok := in.GetMode(); ok {
		m &^= syscall.S_IFMT
		s.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		s.Uid = &u
	}
	if g, ok := in.GetGID(); ok {
		s.Gid = &g
	}
	if sz, ok := in.GetSize(); ok {
		s.Size = &sz
	}
	if t, ok := in.GetATime(); ok {
		ns := t.UnixNano()
		s.Atime = &ns
	}
	if t, ok := in.GetMTime(); ok {
		ns := t.UnixNano()
		s.Mtime = &ns
	}
	attr, err := n.v.SetAttr(ctx, n.ino, s)
	if err != nil {
		return toErrno(err)
	}
	fillAttr(&out.Attr, attr)
	return 0
}

// Open implements gofs.NodeOpener.
func (n *Node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	h, err := n.open(ctx, flags)
	if err != nil {
		return nil, 0, toErrno(err)
	}
	return h, openFlags(n.v), 0
}

// Readlink implements gofs.NodeReadlinker.
func (n *Node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	target, err := n.v.Readlink(n.ino)
	if err != nil {
		return nil, toErrno(err)
	}
	return []byte(target), 0
}

// Fsync on a file handle syncs that file; on a directory it commits.
func (n *Node) Fsync(ctx context.Context, fh gofs.FileHandle, flags uint32) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		return h.Fsync(ctx, flags)
	}
	return toErrno(n.v.FsyncDir(ctx))
}

// xattrAllowed keeps the namespaces sealfs stores. POSIX ACLs
// (system.posix_acl_*) are not supported: permissions are mode bits.
func xattrAllowed(name string) error {
	if strings.HasPrefix(name, "system.") {
		return syscall.EOPNOTSUPP
	}
	return nil
}

// selinuxXattr holds a file's SELinux label. sealfs stores it like any
// other xattr if one is set (rsync -X from a labelled host), but a file
// without one answers EOPNOTSUPP where ext4 answers ENODATA: the FUSE
// kernel caches no xattr answers, and ls -l asks every file for its
// label, a round trip each (61 % of a warm ls -l of 100,000 files),
// unless the device says it has no labels: on EOPNOTSUPP (or ENOTSUP,
// ENOSYS, EINVAL) ls stops asking for the rest of the device, as it does
// for ACLs after the EOPNOTSUPP of system.posix_acl_access
// (docs/PERFORMANCE.md, "A million entries"; TestSemantics).
const selinuxXattr = "security.selinux"

// Getxattr implements gofs.NodeGetxattrer.
func (n *Node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if err := xattrAllowed(attr); err != nil {
		return 0, toErrno(err)
	}
	v, err := n.v.GetXattr(n.ino, attr)
	if errors.Is(err, syscall.ENODATA) && attr == selinuxXattr {
		return 0, syscall.EOPNOTSUPP
	}
	if err != nil {
		return 0, toErrno(err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// Setxattr implements gofs.NodeSetxattrer.
func (n *Node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if err := xattrAllowed(attr); err != nil {
		return toErrno(err)
	}
	return toErrno(n.v.SetXattr(n.ino, attr, data, flags))
}

// Removexattr implements gofs.NodeRemovexattrer.
func (n *Node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if err := xattrAllowed(attr); err != nil {
		return toErrno(err)
	}
	return toErrno(n.v.RemoveXattr(n.ino, attr))
}

// Listxattr implements gofs.NodeListxattrer.
func (n *Node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names, err := n.v.ListXattr(n.ino)
	if err != nil {
		return 0, toErrno(err)
	}
	var size int
	for _, nm := range names {
		size += len(nm) + 1
	}
	if len(dest) < size {
		return uint32(size), syscall.ERANGE
	}
	var off int
	for _, nm := range names {
		off += copy(dest[off:], nm)
		dest[off] = 0
		off++
	}
	return uint32(off), 0
}
