package fs

import (
	"fmt"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
)

// handle is one open file description: the engine's vault.File, and the
// name it was opened by, if known (for the path in a read failure's log
// line).
type handle struct {
	f     *vault.File
	ino   meta.Ino
	place meta.Place
	named bool
	// owner is the process (thread group) that opened the description,
	// 0 if unknown. A flush from another process is the close of a copy
	// it inherited (a child's exec closing O_CLOEXEC descriptors, a
	// fork's exit): the description is still open in the owner, maybe
	// half written, so that flush publishes nothing (see Flush).
	owner int
}

// open opens ino for the request h and returns the kernel's handle
// number. named says place is the name it was opened by (the lookup or
// create before the open): it drives read-ahead across the folder's
// files (cp -a, tar) and names the file in the intent log
// (vault.File.Named).
func (r *rawFS) open(h *fuse.InHeader, ino meta.Ino, flags uint32, place meta.Place, named bool) (uint64, error) {
	f, err := r.v.OpenFile(ino, flags)
	if err != nil {
		return 0, err
	}
	if named {
		f.Named(place.Parent, place.Name)
	}
	return r.files.add(&handle{f: f, ino: ino, place: place, named: named, owner: callerProcess(h)}), nil
}

// file returns open file fh of inode nodeid.
func (r *rawFS) file(nodeid, fh uint64) (*handle, fuse.Status) {
	h, ok := r.files.get(fh)
	if !ok || uint64(h.ino) != nodeid {
		return nil, errnoStatus(syscall.EBADF)
	}
	return h, fuse.OK
}

// path is h's path for a log line.
func (r *rawFS) path(h *handle) string {
	var hints map[meta.Ino]meta.Place
	if h.named {
		hints = map[meta.Ino]meta.Place{h.ino: h.place}
	}
	if p, ok := r.v.Tree().Paths([]meta.Ino{h.ino}, hints)[h.ino]; ok {
		return "/" + p
	}
	return fmt.Sprintf("(inode %d, no longer linked)", h.ino)
}

// Read implements fuse.RawFileSystem.
func (r *rawFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	h, st := r.file(in.NodeId, in.Fh)
	if !st.Ok() {
		return nil, st
	}
	dest := buf[:min(len(buf), int(in.Size))]
	n, err := h.f.ReadAt(reqContext(&in.InHeader, cancel), dest, int64(in.Offset))
	if err != nil {
		r.v.ReportRead(err, func() string { return r.path(h) })
		return nil, status(err)
	}
	return fuse.ReadResultData(dest[:n]), fuse.OK
}

// Write implements fuse.RawFileSystem.
func (r *rawFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	h, st := r.file(in.NodeId, in.Fh)
	if !st.Ok() {
		return 0, st
	}
	n, err := h.f.WriteAt(reqContext(&in.InHeader, cancel), data, int64(in.Offset))
	if err != nil && n == 0 {
		return 0, status(err)
	}
	return uint32(n), fuse.OK
}

// Writev implements fuse.RawFileSystem: a write whose data arrived in
// pieces is written piece by piece (no copy into one buffer).
func (r *rawFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if len(data) == 1 {
		return r.Write(cancel, in, data[0])
	}
	h, st := r.file(in.NodeId, in.Fh)
	if !st.Ok() {
		return 0, st
	}
	ctx := reqContext(&in.InHeader, cancel)
	var done int
	for _, d := range data {
		n, err := h.f.WriteAt(ctx, d, int64(in.Offset)+int64(done))
		done += n
		if err != nil {
			if done == 0 {
				return 0, status(err)
			}
			break
		}
	}
	return uint32(done), fuse.OK
}

// Flush runs at every close(2) of a descriptor: of the description or of
// a copy of it. The owner's close publishes the file as it is
// (vault.File.Flush): a temporary file closed, renamed and fsynced is
// committed with its content. Another process's flush only reports
// errors: publishing then could commit a file the owner is still writing
// (a torn file after a crash); the owner's own close, or the last
// release, publishes it.
func (r *rawFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	h, st := r.file(in.NodeId, in.Fh)
	if !st.Ok() {
		return st
	}
	if p := callerProcess(&in.InHeader); h.owner != 0 && p != 0 && p != h.owner {
		return status(h.f.TakeError())
	}
	return status(h.f.Flush())
}

// Fsync returns once the file's data and a commit holding it are durable.
func (r *rawFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	h, st := r.file(in.NodeId, in.Fh)
	if !st.Ok() {
		return st
	}
	return status(h.f.Fsync(reqContext(&in.InHeader, cancel)))
}

// Release implements fuse.RawFileSystem: the last descriptor of the
// description is closed (the kernel sends no request on it after this).
func (r *rawFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	if h, ok := r.files.remove(in.Fh); ok {
		h.f.Release()
	}
}

// Fallocate: vault.File.Allocate.
func (r *rawFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	h, st := r.file(in.NodeId, in.Fh)
	if !st.Ok() {
		return st
	}
	return status(h.f.Allocate(reqContext(&in.InHeader, cancel), in.Offset, in.Length, in.Mode))
}
