package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/fs/meta"
)

// Vault is the engine of one opened vault: it owns the metadata tree, the
// open files' write state, the upload pool, the read cache and the commit
// loop. Front doors (the FUSE layer in package fs, restore, listing) call
// into it with inode numbers and plain Go types.
type Vault struct {
	opts   Options
	log    *slog.Logger
	tree   *meta.Tree
	mlog   *meta.Log
	cs     int64 // chunk size
	piece  int64 // what a chunk buffer allocates at a time (pieceSize)
	ctx    context.Context
	cancel context.CancelFunc

	budget   *budget
	up       *uploader
	dedup    *dedup // content objects stored once (dedup.go)
	cache    *segCache
	inflated *inflated     // decompressed chunks (compress.go)
	gets     chan struct{} // bounds parallel range GETs

	mu    sync.Mutex
	files map[meta.Ino]*file // files open or with unpublished data

	commitMu  ctxMutex       // one commit at a time (lockCommit)
	nsMu      sync.RWMutex   // renames and links (read) vs. the end of a commit
	bg        sync.WaitGroup // background publishes
	bgReads   sync.WaitGroup // read-ahead fetches
	folders   folderReads    // folder read-ahead (folder_ahead.go)
	loopStop  chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
	closing   atomic.Bool
	progBase  atomic.Int64 // up.done when closing began
	badObj    sync.Map     // object id -> struct{}: integrity failures already logged
	fenced    atomic.Bool
	stage     *stager      // sealed objects and intent log in CacheDir; nil without (staging.go)
	clean     cleanChunks  // plaintext of recently uploaded rewritten chunks (clean.go)
	applyGate sync.RWMutex // publishes (read) vs. a staged commit's check and take (write)
	recovery  *Recovery    // what Open recovered from an earlier mount (recover.go)
	follow    follower     // a read-only mount following the writer (follow.go)
	count     counters
	durable   atomic.Uint64 // tree changes (Tree.Changes) known to be in the store (commitCovering)
	fsyncing  publishing    // fsyncs publishing their data, for a commit to wait for (groupwait.go)
	packing   packRound     // fsyncs gathering their small files into one pack (groupwait.go)
}

// counters count what the engine's background loops did. Tests wait for
// these events instead of sleeping ("three more schedule ticks passed,
// and no snapshot was taken").
type counters struct {
	deferred    atomic.Int64 // commits deferred: the writer lease was not confirmed lately
	snapTicks   atomic.Int64 // snapshot schedule ticks handled
	polls       atomic.Int64 // head polls of a following mount
	writes      atomic.Int64 // chunk writes: the clock of version.tick
	parks       atomic.Int64 // partial chunks parked in the staging area (park.go)
	parkedBytes atomic.Int64 // sealed bytes written to the staging area by parks and merges
	flushes     atomic.Int64 // flushes (close(2) of a description or a copy) handled
	grouped     atomic.Int64 // fsyncs that another's commit covered (commitCovering)
	// bgPublishes counts background publishes queued or running.
	bgPublishes atomic.Int64
}

// Open loads the vault's metadata from opts.Store and prepares the engine
// without mounting. Call Close when done: it publishes and commits
// everything.
func Open(ctx context.Context, opts Options) (*Vault, error) {
	if opts.Store == nil || opts.Keys == nil {
		return nil, errors.New("fs: open: Store and Keys are required")
	}
	opts = opts.withDefaults()
	if opts.Snapshot != "" {
		return openSnapshot(ctx, opts)
	}
	tree, mlog, err := meta.Open(ctx, opts.Store, opts.Keys, meta.LogOptions{
		Device:    opts.Device,
		MountID:   opts.MountID,
		Rand:      opts.Rand,
		Logger:    opts.Logger,
		CheckHead: opts.CheckHead,
	})
	if err != nil {
		return nil, fmt.Errorf("fs: open vault metadata in %s: %w", opts.Store, err)
	}
	if opts.OnCommit != nil {
		opts.OnCommit(mlog.Head())
	}
	plan, err := prepareRecovery(ctx, &opts, &tree, mlog.Head(), func() (*meta.Tree, error) {
		t, _, err := meta.Open(ctx, opts.Store, opts.Keys, meta.LogOptions{CheckHead: opts.CheckHead})
		return t, err
	})
	if err != nil {
		return nil, err
	}
	fs := newFS(opts, tree, mlog)
	fs.finishRecovery(plan)
	return fs, nil
}

func newFS(opts Options, tree *meta.Tree, mlog *meta.Log) *Vault {
	cs := int64(tree.ChunkSize())
	// A write of MaxWrite bytes touches at most two chunks' worth of new
	// buffers per MiB; the budget must always fit a few of them.
	minBudget := 4 * max(cs, MaxWrite)
	piece := pieceSize(cs)
	if p := opts.Tuning.ChunkPiece; p > 0 {
		piece = min(p, cs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fs := &Vault{
		opts:     opts,
		log:      opts.Logger,
		tree:     tree,
		mlog:     mlog,
		cs:       cs,
		piece:    piece,
		ctx:      ctx,
		cancel:   cancel,
		budget:   newBudget(max(opts.MemoryBudget, minBudget)),
		cache:    newSegCache(opts.ReadCache),
		inflated: newInflated(max(1, int(inflateBytes/cs))),
		gets:     make(chan struct{}, 16),
		files:    make(map[meta.Ino]*file),
		commitMu: newCtxMutex(),
		loopStop: make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	fs.clean.budget = fs.budget
	fs.up = newUploader(fs, opts.Uploads)
	fs.dedup = newDedup(fs)
	if opts.stageDir != nil {
		fs.stage = newStager(fs, opts.stageDir)
	}
	go fs.commitLoop()
	fs.startFollow()
	fs.startSnapshots()
	return fs
}

// newMountID is a random mount instance id (16 hex): one copy for the
// engine, the device checks and the CLI.
func newMountID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func now() int64 { return time.Now().UnixNano() }

func (fs *Vault) writable() error {
	if fs.opts.ReadOnly {
		return errReadOnly
	}
	if fs.fenced.Load() {
		return fmt.Errorf("fs: another writer took over the vault: %w", syscall.EROFS)
	}
	return nil
}

// Getattr returns ino's attributes as the application sees them: a file
// with unpublished writes shows its in-memory size and mtime.
func (fs *Vault) Getattr(ino meta.Ino) (meta.Inode, error) {
	in, ok := fs.tree.Get(ino)
	if !ok {
		return meta.Inode{}, syscall.ENOENT
	}
	fs.overlay(&in)
	return in, nil
}

// overlay applies unpublished writes to in. For a file with write state
// it reads the inode again under the file's lock: a publish swaps tree
// state and pending state under that lock, so the result is never the
// old tree state without the pending writes.
func (fs *Vault) overlay(in *meta.Inode) {
	fs.mu.Lock()
	f := fs.files[in.Ino]
	fs.mu.Unlock()
	if f == nil {
		// The caller's in may predate a publish whose file state was
		// dropped just now (a file is dropped only once its data is in
		// the tree): read it again, or a setattr(size) reply could carry
		// the old size and the kernel would cut the file's reads there.
		if fresh, ok := fs.tree.Get(in.Ino); ok {
			*in = fresh
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fresh, ok := fs.tree.Get(in.Ino); ok {
		*in = fresh
	}
	if f.dirty {
		in.Size = uint64(f.size)
		in.Mtime, in.Ctime = f.mtime, max(in.Ctime, f.mtime)
	}
}

// Lookup returns the attributes of name in directory parent.
func (fs *Vault) Lookup(parent meta.Ino, name string) (meta.Inode, error) {
	if len(name) > meta.MaxNameLen {
		return meta.Inode{}, syscall.ENAMETOOLONG
	}
	in, err := fs.tree.Lookup(parent, name)
	if err != nil {
		return meta.Inode{}, err
	}
	fs.overlay(&in)
	return in, nil
}

// ReadDir lists directory dir, sorted by name (without "." and "..").
func (fs *Vault) ReadDir(dir meta.Ino) ([]meta.DirEntry, error) {
	return fs.tree.ReadDir(dir)
}

// DirNames returns directory dir's names, sorted, for a listing that
// pages through them with DirEntries (meta.Tree.DirNames: a slice of the
// caller's whose strings share the tree's memory).
func (fs *Vault) DirNames(dir meta.Ino) ([]string, error) { return fs.tree.DirNames(dir) }

// DirEntries returns the entries of dir named by names, skipping those
// that are gone.
func (fs *Vault) DirEntries(dir meta.Ino, names []string) []meta.DirEntry {
	return fs.tree.DirEntries(dir, names)
}

// Create makes an empty regular file; mode holds S_IFREG and the
// permission bits, uid and gid its owner.
func (fs *Vault) Create(parent meta.Ino, name string, mode, uid, gid uint32) (meta.Inode, error) {
	if err := fs.checkChange(name); err != nil {
		return meta.Inode{}, err
	}
	return fs.tree.Create(parent, name, mode, uid, gid, now())
}

// Mknod makes a FIFO, a socket or a character or block device node
// (rdev), an inode with metadata only; mode's type bits say which (S_IFREG
// or none makes an empty regular file). sealfs never opens them for data:
// the kernel serves FIFOs itself, and mounts are nodev.
func (fs *Vault) Mknod(parent meta.Ino, name string, mode, rdev, uid, gid uint32) (meta.Inode, error) {
	if err := fs.checkChange(name); err != nil {
		return meta.Inode{}, err
	}
	return fs.tree.Mknod(parent, name, mode, rdev, uid, gid, now())
}

// Mkdir makes a directory; mode holds S_IFDIR and the permission bits.
func (fs *Vault) Mkdir(parent meta.Ino, name string, mode, uid, gid uint32) (meta.Inode, error) {
	if err := fs.checkChange(name); err != nil {
		return meta.Inode{}, err
	}
	return fs.tree.Mkdir(parent, name, mode, uid, gid, now())
}

// Symlink makes a symbolic link to target.
func (fs *Vault) Symlink(parent meta.Ino, name, target string, uid, gid uint32) (meta.Inode, error) {
	if err := fs.checkChange(name); err != nil {
		return meta.Inode{}, err
	}
	if len(target) >= 4096 || len(target) == 0 {
		return meta.Inode{}, syscall.ENAMETOOLONG
	}
	return fs.tree.Symlink(parent, name, target, uid, gid, now())
}

// Link gives inode ino another name, parent/name (a hard link).
func (fs *Vault) Link(ino, parent meta.Ino, name string) (meta.Inode, error) {
	if err := fs.checkChange(name); err != nil {
		return meta.Inode{}, err
	}
	fs.nsMu.RLock()
	defer fs.nsMu.RUnlock()
	in, err := fs.tree.Link(ino, parent, name, now())
	if err != nil {
		return meta.Inode{}, err
	}
	fs.markRenamed(ino, meta.Place{Parent: parent, Name: name})
	fs.overlay(&in)
	return in, nil
}

func (fs *Vault) checkChange(name string) error {
	if err := fs.writable(); err != nil {
		return err
	}
	return meta.CheckName(name)
}

// Unlink removes name (not a directory) from parent; the inode goes when
// its last name and its last open file are gone.
func (fs *Vault) Unlink(parent meta.Ino, name string) error {
	if err := fs.writable(); err != nil {
		return err
	}
	ino, err := fs.tree.Unlink(parent, name, now())
	if err != nil {
		return err
	}
	fs.maybeForget(ino)
	return nil
}

// Rmdir removes the empty directory name from parent.
func (fs *Vault) Rmdir(parent meta.Ino, name string) error {
	if err := fs.writable(); err != nil {
		return err
	}
	return fs.tree.Rmdir(parent, name, now())
}

// Rename moves oldParent/oldName to newParent/newName, atomically, with
// renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE).
func (fs *Vault) Rename(oldParent meta.Ino, oldName string, newParent meta.Ino, newName string, flags uint32) error {
	if err := fs.checkChange(newName); err != nil {
		return err
	}
	if flags&^uint32(meta.RenameNoReplace|meta.RenameExchange) != 0 {
		return syscall.EINVAL
	}
	fs.nsMu.RLock()
	defer fs.nsMu.RUnlock()
	replaced, err := fs.tree.Rename(oldParent, oldName, newParent, newName, flags, now())
	if err != nil {
		return err
	}
	for _, name := range []struct {
		p meta.Ino
		n string
	}{{newParent, newName}, {oldParent, oldName}} {
		if in, err := fs.tree.Lookup(name.p, name.n); err == nil {
			fs.markRenamed(in.Ino, meta.Place{Parent: name.p, Name: name.n}) // the old name exists again after an exchange
		}
	}
	if replaced != 0 {
		fs.maybeForget(replaced)
	}
	return nil
}

// markRenamed notes that ino got a name, at: if it has unpublished data,
// the next commit publishes it first, even if it is still open; and the
// intent log names it by at, not by the name it was opened by (a wrong
// hint costs a walk of the whole tree: Tree.Paths).
func (fs *Vault) markRenamed(ino meta.Ino, at meta.Place) {
	fs.mu.Lock()
	f := fs.files[ino]
	fs.mu.Unlock()
	if f != nil {
		f.mu.Lock()
		f.renamed = f.dirty
		f.place = at
		f.mu.Unlock()
	}
}

// maybeForget releases an inode that lost its last name, unless a handle
// still has it open (then the last release does it). Its unpublished data
// is dropped: nothing can reach it any more.
func (fs *Vault) maybeForget(ino meta.Ino) {
	// fs.mu is held across the check and the Release, so that an open
	// (acquireFile, also under fs.mu) either comes first and keeps the
	// inode, or comes after and finds it gone.
	fs.mu.Lock()
	in, ok := fs.tree.Get(ino)
	if !ok || in.Nlink > 0 || in.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		fs.mu.Unlock()
		return
	}
	f := fs.files[ino]
	if f != nil && f.opens > 0 {
		fs.mu.Unlock()
		return
	}
	delete(fs.files, ino)
	if f != nil {
		f.discard()
	}
	fs.tree.Release(ino)
	fs.mu.Unlock()
}

// SetAttr changes attributes; a size change goes through the file's write
// state so that unpublished data and truncation stay in order.
func (fs *Vault) SetAttr(ctx context.Context, ino meta.Ino, in meta.SetAttrIn) (meta.Inode, error) {
	if err := fs.writable(); err != nil {
		return meta.Inode{}, err
	}
	if in.Size != nil {
		if err := fs.truncate(ctx, ino, int64(*in.Size)); err != nil {
			return meta.Inode{}, err
		}
		in.Size = nil
	}
	if in.Mode != nil || in.Uid != nil || in.Gid != nil || in.Atime != nil || in.Mtime != nil {
		if err := fs.setAttrs(ino, in); err != nil {
			return meta.Inode{}, err
		}
	}
	return fs.Getattr(ino)
}

// setAttrs changes attributes other than the size. A file with write state
// keeps the new mtime too, under its lock, so that a publish (which sets
// mtime from that state under the same lock) cannot undo a utimens.
func (fs *Vault) setAttrs(ino meta.Ino, in meta.SetAttrIn) error {
	fs.mu.Lock()
	f := fs.files[ino]
	fs.mu.Unlock()
	if f != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
	}
	if _, err := fs.tree.SetAttr(ino, in, now()); err != nil {
		return err
	}
	if f != nil && in.Mtime != nil {
		f.mtime = *in.Mtime
	}
	return nil
}

// GetXattr returns the value of extended attribute name.
func (fs *Vault) GetXattr(ino meta.Ino, name string) ([]byte, error) {
	return fs.tree.GetXattr(ino, name)
}

// ListXattr lists the extended attributes of ino.
func (fs *Vault) ListXattr(ino meta.Ino) ([]string, error) { return fs.tree.ListXattr(ino) }

// SetXattr sets an extended attribute (flags: XATTR_CREATE, XATTR_REPLACE).
func (fs *Vault) SetXattr(ino meta.Ino, name string, value []byte, flags uint32) error {
	if err := fs.writable(); err != nil {
		return err
	}
	return fs.tree.SetXattr(ino, name, value, flags, now())
}

// RemoveXattr removes an extended attribute.
func (fs *Vault) RemoveXattr(ino meta.Ino, name string) error {
	if err := fs.writable(); err != nil {
		return err
	}
	return fs.tree.RemoveXattr(ino, name, now())
}
