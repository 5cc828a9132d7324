package meta

// API SKELETON written by the lead so that fs/ (FUSE nodes and data path) can
// be written in parallel with this package. The meta implementer replaces the
// bodies (and splits this file by topic), keeping every exported name and
// signature below. Additions are fine; changes must be agreed with the lead.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// Ino is an inode number. Numbers are never reused within one vault.
type Ino uint64

// RootIno is the root directory.
const RootIno Ino = 1

// MaxNameLen is the longest name in bytes (ENAMETOOLONG beyond).
const MaxNameLen = 255

// Extent references plaintext bytes [Offset, Offset+Length) of the sealed
// object Object, whose whole plaintext is ObjectSize bytes (needed to know
// which segment is the last). A zero Object means a hole (zeros, no object).
// Several files may share one object through different extents.
type Extent struct {
	Object     crypt.ObjectID
	ObjectSize uint32
	Offset     uint32
	Length     uint32
}

// IsHole reports whether e references no object.
func (e Extent) IsHole() bool { return e.Object.IsZero() }

// Attr are the POSIX attributes kept for every inode. Times are Unix
// nanoseconds.
type Attr struct {
	Mode                uint32 // S_IFMT type bits | permission bits
	Uid, Gid            uint32
	Size                uint64
	Nlink               uint32
	Atime, Mtime, Ctime int64
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

// Errors are returned as syscall.Errno values (ENOENT, EEXIST, ENOTDIR,
// EISDIR, ENOTEMPTY, EINVAL, ENAMETOOLONG, ENODATA, EPERM) so the FUSE layer
// can pass them through; wrap nothing around them.

// Tree is the whole metadata of one vault in memory. All methods are safe for
// concurrent use. Every change is recorded as a journal op for the next
// commit.
type Tree struct{}

func NewTree(chunkSize int, uid, gid uint32, now int64) *Tree { panic("todo") }
func (t *Tree) ChunkSize() int                                { panic("todo") }
func (t *Tree) Get(ino Ino) (Inode, bool)                     { panic("todo") }
func (t *Tree) Lookup(parent Ino, name string) (Inode, error) { panic("todo") }
func (t *Tree) ReadDir(dir Ino) ([]DirEntry, error)           { panic("todo") } // sorted by name
func (t *Tree) Create(parent Ino, name string, mode, uid, gid uint32, now int64) (Inode, error) {
	panic("todo") // regular file (mode has S_IFREG or no type bits)
}
func (t *Tree) Mkdir(parent Ino, name string, mode, uid, gid uint32, now int64) (Inode, error) {
	panic("todo")
}
func (t *Tree) Symlink(parent Ino, name, target string, uid, gid uint32, now int64) (Inode, error) {
	panic("todo")
}
func (t *Tree) Link(ino, newParent Ino, newName string, now int64) (Inode, error) { panic("todo") }

// Unlink removes a non-directory name and decrements nlink. An inode whose
// nlink reaches 0 stays readable until Release(ino) (open-unlinked files).
func (t *Tree) Unlink(parent Ino, name string, now int64) (Ino, error) { panic("todo") }
func (t *Tree) Rmdir(parent Ino, name string, now int64) error         { panic("todo") }

// Rename moves a name; replacing a file or an empty directory; flags are
// RenameNoReplace / RenameExchange. It returns the inode that was replaced
// (0 if none), which like Unlink lives on until Release if it reached nlink 0.
func (t *Tree) Rename(oldParent Ino, oldName string, newParent Ino, newName string, flags uint32, now int64) (Ino, error) {
	panic("todo")
}
func (t *Tree) SetAttr(ino Ino, in SetAttrIn, now int64) (Inode, error) { panic("todo") }

// SetFileData publishes written data: the extents for the given chunk
// indexes (a hole Extent clears one), the new size (extents past it are
// dropped or clamped), mtime and ctime. One journal op, applied atomically.
func (t *Tree) SetFileData(ino Ino, size uint64, extents map[int64]Extent, mtime int64) error {
	panic("todo")
}

// Release forgets an inode with nlink 0 once nothing has it open.
func (t *Tree) Release(ino Ino)                               { panic("todo") }
func (t *Tree) GetXattr(ino Ino, name string) ([]byte, error) { panic("todo") }
func (t *Tree) ListXattr(ino Ino) ([]string, error)           { panic("todo") }
func (t *Tree) SetXattr(ino Ino, name string, value []byte, flags uint32, now int64) error {
	panic("todo")
}
func (t *Tree) RemoveXattr(ino Ino, name string, now int64) error { panic("todo") }

// Stats counts regular files, directories and the bytes of regular files.
func (t *Tree) Stats() (files, dirs, bytes uint64) { panic("todo") }

// ForEachExtent calls fn for every non-hole extent of every inode.
func (t *Tree) ForEachExtent(fn func(ino Ino, e Extent)) { panic("todo") }

// Dirty reports whether there are changes not yet committed.
func (t *Tree) Dirty() bool { panic("todo") }

// DataKey is the store key of a chunk object: "data/<first 2 hex>/<32 hex>".
func DataKey(id crypt.ObjectID) string { panic("todo") }

// ErrFenced means another writer replaced head since we last read it: this
// Log must stop committing (its pending changes are kept in the Tree).
var ErrFenced = errors.New("meta: head changed by another writer")

// ErrNoVault... is for the caller; Open returns remote.ErrNotFound (wrapped)
// when there is no head.

// Head describes the commit head names.
type Head struct {
	Seq     uint64    // commit sequence number, +1 per commit
	Time    time.Time // when it was committed (writer's clock)
	Device  string    // writer's device name
	MountID string    // writer's mount instance
}

// LogOptions configure a Log. The zero value works (Rand = crypto/rand,
// Logger discards, sensible snapshot cadence).
type LogOptions struct {
	Device  string
	MountID string
	Rand    io.Reader
	Logger  *slog.Logger
	// SnapshotEvery writes a full snapshot instead of a journal batch after
	// this many batches since the last snapshot (0 = default).
	SnapshotEvery int
}

// Log persists a Tree in a Store: sealed snapshots plus sealed,
// hash-chained journal batches; "head" names the latest and is replaced only
// by compare-and-swap, which is the commit point.
type Log struct{}

// Create writes the first (empty) snapshot and head with a create-only put.
// It fails (wrapping remote.ErrPrecondition) if head exists.
func Create(ctx context.Context, s remote.Store, k *crypt.Keys, t *Tree, opts LogOptions) (*Log, error) {
	panic("todo")
}

// Open loads head, its snapshot and the journal after it, verifying every
// hash and seal; any failure is an error (crypt.ErrAuth wrapped for
// tampering), never a partial tree.
func Open(ctx context.Context, s remote.Store, k *crypt.Keys, opts LogOptions) (*Tree, *Log, error) {
	panic("todo")
}

// Commit seals the Tree's pending changes as one journal batch (or a full
// snapshot when due), puts it, then swaps head with If-Match. If anything
// fails the changes stay pending in the Tree for the next Commit. A refused
// swap returns ErrFenced. Commits are serialised; nothing pending is a no-op.
func (l *Log) Commit(ctx context.Context, t *Tree) (Head, error) { panic("todo") }

// Snapshot commits everything pending as a full snapshot.
func (l *Log) Snapshot(ctx context.Context, t *Tree) (Head, error) { panic("todo") }

// Head returns the last head this Log read or wrote.
func (l *Log) Head() Head { panic("todo") }

// ReadHead reads and opens the current head without loading the tree (for
// info and read-only followers polling for changes).
func ReadHead(ctx context.Context, s remote.Store, k *crypt.Keys) (Head, error) { panic("todo") }
