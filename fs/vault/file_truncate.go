package vault

import (
	"context"
	"slices"
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
		v.data.truncate(k)
		v.written.clip(k)
		v.fresh.clip(k)
		f.clipPatchesLocked(v, k)
		return
	}
	if v != nil && len(v.patches) > 0 {
		// Parked, or being parked: its patches, cut, move to a new
		// version, which must not lose them when v is dropped, with
		// what v's buffer holds above them.
		nv := &version{written: v.written.clone()}
		nv.written.clip(k)
		nv.patches, v.patches = v.patches, nil
		f.clipPatchesLocked(nv, k)
		v.mu.Lock()
		src := v.data
		v.mu.Unlock()
		if src != nil {
			nv.data = src.clone(k)
			fs.chargeLocked(nv, 0, nil)
			nv.fresh = v.fresh.clone()
			nv.fresh.clip(k)
		} else {
			nv.frozen, nv.park, nv.done = true, true, closedChan
		}
		fs.dropVersion(v)
		f.chunks[ci] = nv
		return
	}
	src, ext, n := f.chunkSourceLocked(ci)
	if n <= k || src == nil && ext.IsHole() {
		return
	}
	var nv *version
	if src != nil {
		nv = &version{data: src.clone(k)}
		nv.data.extend(k)
		fs.chargeLocked(nv, 0, nil)
		nv.fresh.add(0, k)
	} else {
		// Published content: shortening the extent needs no data.
		ext.Length = uint32(k)
		nv = &version{frozen: true, ext: ext, done: closedChan}
	}
	if v != nil {
		fs.dropVersion(v)
	}
	f.chunks[ci] = nv
}

// clipPatchesLocked cuts v's patches to chunk bytes [0, k), removing those
// left empty. The caller holds f.mu.
func (f *file) clipPatchesLocked(v *version, k int64) {
	if len(v.patches) == 0 {
		return
	}
	var keep, gone []patch
	for _, p := range v.patches {
		c := cover{spans: slices.Clone(p.spans)}
		c.clip(k)
		if len(c.spans) == 0 {
			gone = append(gone, p)
			continue
		}
		// The object holds the ranges one after another, so the cut
		// ones are its tail: what it stands for ends with them (a
		// patch that is the whole chunk is published as is, by
		// mergeParkedLocked).
		np := patch{ext: p.ext, spans: c.spans}
		if n := np.size(); int64(np.ext.Length) > n {
			np.ext.Length = uint32(n)
		}
		keep = append(keep, np)
	}
	f.fs.discardPatches(gone)
	v.patches = keep
}
