package fs

import (
	"errors"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
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

// GetAttr implements fuse.RawFileSystem.
func (r *rawFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	attr, err := r.v.Getattr(meta.Ino(in.NodeId))
	if err != nil {
		return status(err)
	}
	fillAttr(&out.Attr, attr)
	out.SetTimeout(r.attrTimeout)
	return fuse.OK
}

// SetAttr implements fuse.RawFileSystem: chmod, chown, truncate and
// utimens, with or without an open file.
func (r *rawFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
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
	attr, err := r.v.SetAttr(reqContext(&in.InHeader, cancel), meta.Ino(in.NodeId), s)
	if err != nil {
		return status(err)
	}
	fillAttr(&out.Attr, attr)
	out.SetTimeout(r.attrTimeout)
	return fuse.OK
}

// Open implements fuse.RawFileSystem.
func (r *rawFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	ino := meta.Ino(in.NodeId)
	place, named := r.placeOf(ino)
	fh, err := r.open(&in.InHeader, ino, in.Flags, place, named)
	if err != nil {
		return status(err)
	}
	out.Fh, out.OpenFlags = fh, openFlags(r.v)
	return fuse.OK
}

// Readlink implements fuse.RawFileSystem.
func (r *rawFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	target, err := r.v.Readlink(meta.Ino(h.NodeId))
	if err != nil {
		return nil, status(err)
	}
	return []byte(target), fuse.OK
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

// GetXAttr implements fuse.RawFileSystem.
func (r *rawFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	if err := xattrAllowed(attr); err != nil {
		return 0, status(err)
	}
	v, err := r.v.GetXattr(meta.Ino(h.NodeId), attr)
	if errors.Is(err, syscall.ENODATA) && attr == selinuxXattr {
		return 0, errnoStatus(syscall.EOPNOTSUPP)
	}
	if err != nil {
		return 0, status(err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), fuse.ERANGE
	}
	return uint32(copy(dest, v)), fuse.OK
}

// SetXAttr implements fuse.RawFileSystem.
func (r *rawFS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	if err := xattrAllowed(attr); err != nil {
		return status(err)
	}
	return status(r.v.SetXattr(meta.Ino(in.NodeId), attr, data, in.Flags))
}

// RemoveXAttr implements fuse.RawFileSystem.
func (r *rawFS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	if err := xattrAllowed(attr); err != nil {
		return status(err)
	}
	return status(r.v.RemoveXattr(meta.Ino(h.NodeId), attr))
}

// ListXAttr implements fuse.RawFileSystem.
func (r *rawFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	names, err := r.v.ListXattr(meta.Ino(h.NodeId))
	if err != nil {
		return 0, status(err)
	}
	var size int
	for _, nm := range names {
		size += len(nm) + 1
	}
	if len(dest) < size {
		return uint32(size), fuse.ERANGE
	}
	var off int
	for _, nm := range names {
		off += copy(dest[off:], nm)
		dest[off] = 0
		off++
	}
	return uint32(off), fuse.OK
}
