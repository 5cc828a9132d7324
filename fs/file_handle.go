package fs

import (
	"context"
	"math"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

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
	fs  *FS
	ino meta.Ino

	pubMu sync.Mutex // serialises publishes, so they reach the tree in order
	wmu   sync.Mutex // serialises writes, truncates and publish's freeze

	opens int // guarded by fs.mu (and read under f.mu with fs.mu held)

	mu       sync.Mutex
	base     []meta.Extent // the published extents (a copy of the tree's)
	size     int64         // current size, including unpublished writes
	mtime    int64
	dirty    bool    // something is not yet published
	gen      uint64  // bumped by every change
	truncAt  int64   // lowest size since the last applied publish: base extents at/after it read as zeros
	truncs   []trunc // truncations not yet covered by an applied publish, in order
	truncSeq uint64  // truncations so far
	chunks   map[int64]*version
	waiting  bool     // a writer waits for memory: the evictor may freeze its buffers
	queued   bool     // a background publish is queued
	renamed  bool     // given a name while dirty: publish before the next commit
	err      error    // failure of a background publish, reported once by flush/fsync
	gone     bool     // unlinked and released: drop everything
	closed   bool     // closed since the last change: the content is a closed one
	snap     *pubSnap // the content at the last close, for its background publish (see publish)
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
	frozen bool // guarded by file.mu

	mu      sync.Mutex
	data    []byte // plaintext; len = bytes that are valid in the chunk
	charged int64  // budget bytes held for data
	done    chan struct{}
	ext     meta.Extent // the uploaded object, once done without err
	err     error
	dropped bool // no longer wanted: its memory goes back when the upload ends
	rewrite bool // copied published content: keep it clean once uploaded (clean.go)
}

// acquireFile returns ino's file state, loading it from the tree, and
// counts an open.
func (fs *FS) acquireFile(ino meta.Ino, open bool) (*file, error) {
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
		f.opens++
	}
	return f, nil
}

// releaseFile undoes an open. The last close of a file with unpublished
// data starts a background publish; the last close of an unlinked file
// forgets it.
func (fs *FS) releaseFile(f *file) {
	fs.mu.Lock()
	f.opens--
	last := f.opens == 0
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
func (fs *FS) maybeDrop(f *file) {
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

// dropVersion gives v's memory back now, or when its upload ends.
func (fs *FS) dropVersion(v *version) {
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

// handle is one open file description. Its methods are the go-fuse file
// operations; they call into the engine.
type handle struct {
	fs    *FS
	f     *file
	node  *Node
	flags uint32

	mu     sync.Mutex // sequential-read detection
	next   int64      // where a sequential read would start
	window int64      // current read-ahead, bytes
	ahead  int64      // read-ahead was issued up to here
}

var (
	_ = (gofs.FileReader)((*handle)(nil))
	_ = (gofs.FileWriter)((*handle)(nil))
	_ = (gofs.FileFlusher)((*handle)(nil))
	_ = (gofs.FileFsyncer)((*handle)(nil))
	_ = (gofs.FileReleaser)((*handle)(nil))
	_ = (gofs.FileAllocater)((*handle)(nil))
)

func (fs *FS) open(n *Node, flags uint32) (*handle, error) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		if err := fs.writable(); err != nil {
			return nil, err
		}
	}
	f, err := fs.acquireFile(n.ino, true)
	if err != nil {
		return nil, err
	}
	return &handle{fs: fs, f: f, node: n, flags: flags}, nil
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.fs.read(ctx, h, dest, off)
	if err != nil {
		h.fs.reportRead(h, err)
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.fs.write(ctx, h.f, data, off)
	if err != nil && n == 0 {
		return 0, toErrno(err)
	}
	return uint32(n), 0
}

// Flush runs at every close(2) of a descriptor: closing a descriptor open
// for writing starts publishing the file in the background and reports an
// earlier background failure once. Closing a read-only descriptor does
// neither: readers must not publish another descriptor's writes.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if h.flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		return 0
	}
	f := h.f
	f.mu.Lock()
	err := f.err
	f.err = nil
	f.mu.Unlock()
	h.fs.publishAsync(f)
	return toErrno(err)
}

// Fsync returns once the file's data and a commit holding it are durable.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return toErrno(h.fs.fsync(ctx, h.f))
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.fs.releaseFile(h.f)
	return 0
}

// Allocate supports plain preallocation (it extends the size; the new
// bytes are holes that cost nothing) and FALLOC_FL_KEEP_SIZE (a no-op).
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	const keepSize = 1
	switch mode {
	case 0:
		return toErrno(h.fs.extend(ctx, h.f, int64(off+size)))
	case keepSize:
		return 0
	default:
		return syscall.EOPNOTSUPP
	}
}
