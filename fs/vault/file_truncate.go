package vault

import (
	"context"
	"syscall"

	"github.com/sealfs/sealfs/fs/meta"
)

// closedChan is the done channel of versions that need no upload.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// truncate sets ino's size (truncate(2), ftruncate(2), O_TRUNC).
func (fs *Vault) truncate(ctx context.Context, ino meta.Ino, size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	f, err := fs.acquireFile(ino, true)
	if err != nil {
		return err
	}
	defer fs.releaseFile(f)
	return fs.setSize(f, size, false)
}

// extend grows f to at least size (fallocate).
func (fs *Vault) extend(ctx context.Context, f *file, size int64) error {
	if err := fs.writable(); err != nil {
		return err
	}
	return fs.setSize(f, size, true)
}

// setSize changes the size as an unpublished change, like a write: it is
// published together with the writes around it. So O_TRUNC followed by
// the new content replaces the old content in one publish, and no commit
// ever holds the emptied file (the nightly database rewrite).
func (fs *Vault) setSize(f *file, size int64, growOnly bool) error {
	if uint64(size) > meta.MaxFileSize {
		return syscall.EFBIG
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if growOnly && size <= f.size {
		return nil
	}
	f.changingLocked()
	if size < f.size {
		for ci, v := range f.chunks {
			if ci*fs.cs >= size {
				fs.dropVersion(v)
				delete(f.chunks, ci)
			}
		}
		if k := size % fs.cs; k != 0 {
			f.clampChunkLocked(size/fs.cs, k)
		}
		f.truncAt = min(f.truncAt, size)
		f.truncSeq++
		f.truncs = append(f.truncs, trunc{seq: f.truncSeq, size: size})
	}
	f.size = size
	f.touchLocked()
	return nil
}

// clampChunkLocked cuts chunk ci to its first k bytes, so that bytes past
// them read as zeros if the file grows again.
func (f *file) clampChunkLocked(ci, k int64) {
	fs := f.fs
	v := f.chunks[ci]
	if v != nil && !v.frozen {
		if int64(len(v.data)) > k {
			v.data = v.data[:k]
		}
		v.written.clip(k)
		return
	}
	src, ext, n := f.chunkSourceLocked(ci)
	if n <= k || src == nil && ext.IsHole() {
		return
	}
	var nv *version
	if src != nil {
		c := growCap(0, k, fs.cs)
		fs.budget.force(c)
		nv = &version{data: make([]byte, k, c), charged: c}
		copy(nv.data, src)
	} else {
		// Published (or parked) content: shortening the extent needs
		// no data.
		ext.Length = uint32(k)
		nv = &version{frozen: true, ext: ext, done: closedChan}
		if v != nil && v.park && v.takeParked() {
			// The parked object moves to the new version, which
			// must not lose it when v is dropped.
			nv.park, nv.parked, nv.written = true, true, v.written.clone()
			nv.written.clip(k)
		}
	}
	if v != nil {
		fs.dropVersion(v)
	}
	f.chunks[ci] = nv
}
