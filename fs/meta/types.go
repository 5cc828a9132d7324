package meta

import (
	"syscall"

	"github.com/sealfs/sealfs/crypt"
)

// Ino is an inode number. Numbers are never reused within one vault.
type Ino uint64

// RootIno is the root directory.
const RootIno Ino = 1

// MaxNameLen is the longest name in bytes (ENAMETOOLONG beyond).
const MaxNameLen = 255

// Limits that mirror Linux, enforced by the Tree and by the decoder.
const (
	// MaxSymlinkLen is the longest symlink target (PATH_MAX - 1).
	MaxSymlinkLen = 4095
	// MaxXattrNameLen is the longest extended attribute name.
	MaxXattrNameLen = 255
	// MaxXattrValueLen is the largest extended attribute value (XATTR_SIZE_MAX).
	MaxXattrValueLen = 64 << 10
	// MaxFileSize is the largest file size (EFBIG beyond).
	MaxFileSize = 1 << 43
)

// Extended attribute flags (same values as Linux setxattr).
const (
	XattrCreate  = 1
	XattrReplace = 2
)

// Extent references plaintext bytes [Offset, Offset+Length) of the sealed
// object Object, whose whole plaintext is ObjectSize bytes (needed to know
// which segment is the last). A zero Object means a hole (zeros, no object).
// Several files may share one object through different extents.
//
// Content (format 3) is the content id of those bytes
// (crypt.ContentID of them) when they are a part of a shared object, a
// pack of small files: the index that lets an identical small file
// reference them instead of being packed again. Zero for a whole-chunk
// object, whose id is already its content id, and in older formats.
type Extent struct {
	Object     crypt.ObjectID
	ObjectSize uint32
	Offset     uint32
	Length     uint32
	Content    crypt.ObjectID
	// Stored (format 4) is non-zero for a compressed extent: object bytes
	// [Offset, Offset+Stored) are one zstd frame whose decompressed
	// bytes, at most a chunk, are the extent's data, of which the file
	// uses the first Length (Offset+Length need not fit in the object).
	// A compressed extent is read whole: fetched, authenticated and
	// decompressed in memory (docs/FORMAT.md, "Compressed chunks").
	Stored uint32
}

// Compressed reports whether e's bytes are a zstd frame (Stored).
func (e Extent) Compressed() bool { return e.Stored != 0 }

// IsHole reports whether e references no object.
func (e Extent) IsHole() bool { return e.Object == crypt.ObjectID{} }

// Attr are the POSIX attributes kept for every inode. Times are Unix
// nanoseconds.
type Attr struct {
	Mode                uint32 // S_IFMT type bits | permission bits
	Uid, Gid            uint32
	Size                uint64
	Nlink               uint32
	Rdev                uint32 // device number of a character or block device
	Atime, Mtime, Ctime int64
}

// IsDir reports whether the attributes are those of a directory.
func (a Attr) IsDir() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFDIR }

// IsRegular reports whether the attributes are those of a regular file.
func (a Attr) IsRegular() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFREG }

// IsSymlink reports whether the attributes are those of a symbolic link.
func (a Attr) IsSymlink() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFLNK }

// IsSpecial reports whether the attributes are those of a FIFO, socket or
// device node: inodes with no data, kept for their metadata (format 2).
func (a Attr) IsSpecial() bool { return isSpecial(a.Mode) }

// validType reports whether mode's type bits name a file type a tree holds.
func validType(mode uint32) bool {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK,
		syscall.S_IFIFO, syscall.S_IFCHR, syscall.S_IFBLK, syscall.S_IFSOCK:
		return true
	}
	return false
}

// legacyType reports whether mode's type is one format 1 can hold.
func legacyType(mode uint32) bool {
	typ := mode & syscall.S_IFMT
	return typ == syscall.S_IFREG || typ == syscall.S_IFDIR || typ == syscall.S_IFLNK
}

func isSpecial(mode uint32) bool { return validType(mode) && !legacyType(mode) }

func isDevice(mode uint32) bool {
	typ := mode & syscall.S_IFMT
	return typ == syscall.S_IFCHR || typ == syscall.S_IFBLK
}

// Inode is a copy of one inode's state; changing it changes nothing in the tree.
type Inode struct {
	Ino Ino
	Attr
	Target string            // symlink target
	Xattrs map[string][]byte // user.* and others, stored sealed like everything else
	// Extents of a regular file: Extents[i] covers file bytes
	// [i*ChunkSize, i*ChunkSize+Extents[i].Length); the rest of chunk i up to
	// ChunkSize (or the file size) reads as zeros, as do chunks past the list.
	// The list never ends with a hole.
	Extents []Extent
}

// DirEntry is one name in a directory.
type DirEntry struct {
	Name string
	Ino  Ino
	Mode uint32
}

// SetAttrIn says which attributes SetAttr changes (nil = unchanged).
type SetAttrIn struct {
	Mode         *uint32 // permission bits only; type bits are kept
	Uid, Gid     *uint32
	Size         *uint64 // truncate: extents past the size are dropped/clamped
	Atime, Mtime *int64
}

// Rename flags (same values as the Linux renameat2 flags).
const (
	RenameNoReplace = 1
	RenameExchange  = 2
)

// CheckName validates one directory entry name: 1 to MaxNameLen bytes,
// no "/" or NUL, not "." or ".." (ENAMETOOLONG or EINVAL).
func CheckName(name string) error {
	switch {
	case len(name) > MaxNameLen:
		return syscall.ENAMETOOLONG
	case name == "" || name == "." || name == "..":
		return syscall.EINVAL
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}
