package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/vault"
)

// handle is the go-fuse file handle of one open file description: the
// engine's vault.File, and the node it was opened by (for the path in a
// read failure's log line).
type handle struct {
	f    *vault.File
	node *Node
}

var (
	_ = (gofs.FileReader)((*handle)(nil))
	_ = (gofs.FileWriter)((*handle)(nil))
	_ = (gofs.FileFlusher)((*handle)(nil))
	_ = (gofs.FileFsyncer)((*handle)(nil))
	_ = (gofs.FileReleaser)((*handle)(nil))
	_ = (gofs.FileAllocater)((*handle)(nil))
)

func (n *Node) open(flags uint32) (*handle, error) {
	f, err := n.v.OpenFile(n.ino, flags)
	if err != nil {
		return nil, err
	}
	return &handle{f: f, node: n}, nil
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
func (h *handle) Flush(ctx context.Context) syscall.Errno {
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
