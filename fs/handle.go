package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
)

// handle is the go-fuse file handle of one open file description: the
// engine's vault.File, and the node it was opened by (for the path in a
// read failure's log line).
type handle struct {
	f    *vault.File
	node *Node
	// owner is the process (thread group) that opened the description,
	// 0 if unknown. A flush from another process is the close of a copy
	// it inherited (a child's exec closing O_CLOEXEC descriptors, a
	// fork's exit): the description is still open in the owner, maybe
	// half written, so that flush publishes nothing (see Flush).
	owner int
}

var (
	_ = (gofs.FileReader)((*handle)(nil))
	_ = (gofs.FileWriter)((*handle)(nil))
	_ = (gofs.FileFlusher)((*handle)(nil))
	_ = (gofs.FileFsyncer)((*handle)(nil))
	_ = (gofs.FileReleaser)((*handle)(nil))
	_ = (gofs.FileAllocater)((*handle)(nil))
)

func (n *Node) open(ctx context.Context, flags uint32) (*handle, error) {
	f, err := n.v.OpenFile(n.ino, flags)
	if err != nil {
		return nil, err
	}
	// The name it was opened by drives read-ahead across the folder's
	// files (cp -a, tar: vault.File.Named).
	if name, p := n.Parent(); p != nil {
		f.Named(meta.Ino(p.StableAttr().Ino), name)
	}
	return &handle{f: f, node: n, owner: callerProcess(ctx)}, nil
}

// callerProcess is the thread group (process id) of the thread that sent
// the request, 0 if unknown. FUSE names the calling thread.
func callerProcess(ctx context.Context) int {
	c, ok := ctx.(*fuse.Context)
	if !ok || c.Caller.Pid == 0 {
		return 0
	}
	return threadGroup(int(c.Caller.Pid))
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAt(ctx, dest, off)
	if err != nil {
		h.node.v.ReportRead(err, func() string { return "/" + h.node.Path(nil) })
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.f.WriteAt(ctx, data, off)
	if err != nil && n == 0 {
		return 0, toErrno(err)
	}
	return uint32(n), 0
}

// Flush runs at every close(2) of a descriptor (vault.File.Flush).
// Flush is a close(2) of the description or of a copy of it. The owner's
// close publishes the file as it is (vault.File.Flush): a temporary file
// closed, renamed and fsynced is committed with its content. Another
// process's flush only reports errors: publishing then could commit a
// file the owner is still writing (a torn file after a crash); the
// owner's own close, or the last release, publishes it.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if p := callerProcess(ctx); h.owner != 0 && p != 0 && p != h.owner {
		return toErrno(h.f.TakeError())
	}
	return toErrno(h.f.Flush())
}

// Fsync returns once the file's data and a commit holding it are durable.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return toErrno(h.f.Fsync(ctx))
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.f.Release()
	return 0
}

// Allocate: vault.File.Allocate.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	return toErrno(h.f.Allocate(ctx, off, size, mode))
}
