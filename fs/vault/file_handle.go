package vault

import (
	"context"
	"math"
	"sync"
	"syscall"

	"github.com/sealfs/sealfs/fs/meta"
)

// noTrunc is file.truncAt when the file was not truncated since the last
// publish.
const noTrunc = math.MaxInt64

// file is the engine's state of one regular file that is open or still has
// unpublished writes. Hard links share it (it is keyed by inode).
//
// Lock order: fs.mu before file.mu; pubMu before wmu before mu; file.mu
// before version.mu.
type file struct {
	fs  *Vault
	ino meta.Ino

	pubMu sync.Mutex // serialises publishes, so they reach the tree in order
	wmu   sync.Mutex // serialises writes, truncates and publish's freeze

	opens int // written holding fs.mu and mu: read holding either

	mu       sync.Mutex
	base     []meta.Extent // the published extents (a copy of the tree's)
	size     int64         // current size, including unpublished writes
	mtime    int64
	dirty    bool    // something is not yet published
	gen      uint64  // bumped by every change
	layout   uint64  // bumped when parked patches are merged (their objects go away)
	truncAt  int64   // lowest size since the last applied publish: base extents at/after it read as zeros
	truncs   []trunc // truncations not yet covered by an applied publish, in order
	truncSeq uint64  // truncations so far
	chunks   map[int64]*version
	waiting  bool       // a writer waits for memory: the evictor may freeze its buffers
	queued   bool       // a background publish is queued
	renamed  bool       // given a name while dirty: publish before the next commit
	err      error      // failure of a background publish, reported once by flush/fsync
	gone     bool       // unlinked and released: drop everything
	closed   bool       // closed since the last change: the content is a closed one
	place    meta.Place // the name it was last opened by (File.Named), for the intent log
	snap     *pubSnap   // the content at the last close, for its background publish (see publish)
}

// trunc is one truncation of a file to size, the seq-th.
type trunc struct {
	seq  uint64
	size int64
}

// version is one chunk's new content, not yet published. While not frozen
// its data is written in place (under file.mu); once frozen it is
// immutable and is uploaded, after which only ext remains.
type version struct {
	frozen  bool  // guarded by file.mu
	written cover // guarded by file.mu: what writes filled (file_write.go)
	tick    int64 // guarded by file.mu: the vault's write count at its last write
	park    bool  // guarded by file.mu: frozen to be parked (park.go)
	// patches are parked parts of the chunk below data, oldest first
	// (park.go); fresh is what data holds above them: written since the
	// version began over them, or, without patches, all data holds.
	// Both guarded by file.mu.
	patches []patch
	fresh   cover

	mu      sync.Mutex
	data    *chunkBuf // plaintext (chunkbuf.go); nil once uploaded or parked
	charged int64     // budget bytes held for data
	done    chan struct{}
	ext     meta.Extent // the uploaded object, once done without err
	shared  bool        // ext's object was already stored: nothing was uploaded (dedup.go)
	err     error
	dropped bool // no longer wanted: its memory goes back when the upload ends
	rewrite bool // copied published content: keep it clean once uploaded (clean.go)
	send    bool // its content is to be published: a park queues its upload
}

// acquireFile returns ino's file state, loading it from the tree, and
// counts an open.
func (fs *Vault) acquireFile(ino meta.Ino, open bool) (*file, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.files[ino]
	if f == nil {
		in, ok := fs.tree.Get(ino)
		if !ok {
			return nil, syscall.ENOENT
		}
		if in.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return nil, syscall.EISDIR
		}
		f = &file{fs: fs, ino: ino, base: in.Extents, size: int64(in.Size),
			mtime: in.Mtime, truncAt: noTrunc, chunks: make(map[int64]*version)}
		fs.files[ino] = f
	}
	if open {
		f.mu.Lock()
		f.opens++
		f.mu.Unlock()
	}
	return f, nil
}

// releaseFile undoes an open. The last close of a file with unpublished
// data starts a background publish; the last close of an unlinked file
// forgets it.
func (fs *Vault) releaseFile(f *file) {
	fs.mu.Lock()
	f.mu.Lock()
	f.opens--
	last := f.opens == 0
	f.mu.Unlock()
	fs.mu.Unlock()
	if !last {
		return
	}
	if in, ok := fs.tree.Get(f.ino); !ok || in.Nlink == 0 {
		fs.maybeForget(f.ino)
		return
	}
	fs.publishAsync(f)
}

// maybeDrop forgets f's state once it is closed and fully published.
func (fs *Vault) maybeDrop(f *file) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opens == 0 && !f.dirty && !f.queued && fs.files[f.ino] == f {
		delete(fs.files, f.ino)
	}
}

// discard drops all unpublished data of f.
func (f *file) discard() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gone = true
	f.snap = nil
	for ci, v := range f.chunks {
		f.fs.dropVersion(v)
		delete(f.chunks, ci)
	}
	f.dirty = false
}

// dropVersion gives v's memory back now, or when its upload ends, and
// removes its patches. The caller holds the file's mu.
func (fs *Vault) dropVersion(v *version) {
	fs.discardPatches(v.patches)
	v.patches = nil
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dropped = true
	if v.done != nil && !isClosed(v.done) {
		return // the upload's end releases it
	}
	fs.budget.release(v.charged)
	v.data, v.charged = nil, 0
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// File is one open file description of a regular file: what open(2)
// returns, in the engine. Its methods are the file operations of every
// front door (the FUSE layer's handles call them). A File is safe for
// concurrent use; Release ends it.
type File struct {
	fs    *Vault
	f     *file
	flags uint32

	mu     sync.Mutex // sequential-read detection
	next   int64      // where a sequential read would start
	window int64      // current read-ahead, bytes
	ahead  int64      // read-ahead was issued up to here
	parent meta.Ino   // the folder the file was opened in (Named; 0: unknown)
	name   string     // its name there
}

// OpenFile opens the regular file ino with open(2) flags (O_ACCMODE is
// what matters: a vault that cannot be written refuses anything but
// O_RDONLY).
func (fs *Vault) OpenFile(ino meta.Ino, flags uint32) (*File, error) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		if err := fs.writable(); err != nil {
			return nil, err
		}
	}
	f, err := fs.acquireFile(ino, true)
	if err != nil {
		return nil, err
	}
	return &File{fs: fs, f: f, flags: flags}, nil
}

// Ino is the inode the file belongs to.
func (h *File) Ino() meta.Ino { return h.f.ino }

// ReadAt reads into dest from offset off and returns the bytes read:
// fewer than len(dest) only at the end of the file (0 past it). It sees
// unpublished writes. An object that fails to authenticate or is missing
// is an error (*ReadError); never other bytes.
func (h *File) ReadAt(ctx context.Context, dest []byte, off int64) (int, error) {
	return h.fs.read(ctx, h, dest, off)
}

// WriteAt writes data at off. An error with n > 0 is a short write.
func (h *File) WriteAt(ctx context.Context, data []byte, off int64) (n int, err error) {
	return h.fs.write(ctx, h.f, data, off)
}

// Flush runs at every close(2) of the description: closing one open for
// writing starts publishing the file in the background and reports an
// earlier background failure once. Closing a read-only one does neither:
// readers must not publish another description's writes.
func (h *File) Flush() error {
	if h.flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		return nil
	}
	err := h.TakeError()
	h.fs.publishAsync(h.f)
	return err
}

// TakeError returns (and clears) the error of a background publish of the
// file that failed, for close(2) to report, without publishing.
func (h *File) TakeError() error {
	h.fs.count.flushes.Add(1)
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.err
	f.err = nil
	return err
}

// Fsync returns once the file's data and a commit holding it are durable
// in the store (an error after Options.FsyncTimeout otherwise).
func (h *File) Fsync(ctx context.Context) error {
	return h.fs.fsync(ctx, h.f)
}

// Release ends the description (the last close of the file).
func (h *File) Release() {
	h.fs.releaseFile(h.f)
}

// Allocate supports plain preallocation (mode 0: it extends the size; the
// new bytes are holes that cost nothing) and FALLOC_FL_KEEP_SIZE (mode 1:
// a no-op); other modes are EOPNOTSUPP.
func (h *File) Allocate(ctx context.Context, off, size uint64, mode uint32) error {
	const keepSize = 1
	switch mode {
	case 0:
		return h.fs.extend(ctx, h.f, int64(off+size))
	case keepSize:
		return nil
	default:
		return syscall.EOPNOTSUPP
	}
}
