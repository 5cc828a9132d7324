package vault

import (
	"context"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// MaxWrite is the largest write a front door sends in one call (the FUSE
// layer mounts with it as MaxWrite): budgets and read-ahead steps assume it.
const MaxWrite = 1 << 20

// write stores data at off in f's chunk buffers. It returns how many bytes
// were written; an error with n > 0 means a short write.
func (fs *Vault) write(ctx context.Context, f *file, data []byte, off int64) (int, error) {
	if err := fs.writable(); err != nil {
		return 0, err
	}
	if off < 0 || uint64(off)+uint64(len(data)) > meta.MaxFileSize {
		return 0, syscall.EFBIG
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.Lock()
	f.changingLocked()
	f.mu.Unlock()
	done := 0
	for done < len(data) {
		pos := off + int64(done)
		ci, co := pos/fs.cs, pos%fs.cs
		n := int(min(int64(len(data)-done), fs.cs-co))
		if err := fs.writeChunk(ctx, f, ci, co, data[done:done+n]); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// chunkPlan is what writing into one chunk takes, decided under file.mu.
type chunkPlan struct {
	inPlace bool        // write into the existing unfrozen version
	src     []byte      // in-memory content of the chunk to copy (may be nil)
	ext     meta.Extent // else: published content to read first
	srcLen  int64       // valid bytes of the old content
	patched bool        // the old version has patches: they stay below, nothing is read
	newCap  int64       // capacity of the buffer after the write
	need    int64       // budget bytes the write needs
}

func (fs *Vault) planChunk(f *file, ci, end int64) chunkPlan {
	if v := f.chunks[ci]; v != nil && !v.frozen {
		newLen := max(int64(len(v.data)), end)
		p := chunkPlan{inPlace: true, newCap: int64(cap(v.data))}
		if newLen > p.newCap {
			p.newCap = growCap(p.newCap, newLen, fs.cs)
			p.need = p.newCap - int64(cap(v.data))
		}
		return p
	}
	var p chunkPlan
	if v := f.chunks[ci]; v != nil && len(v.patches) > 0 {
		p.patched, p.srcLen = true, patchesEnd(v.patches)
		v.mu.Lock()
		p.src = v.data // a park's buffer: what it holds above them
		v.mu.Unlock()
		p.srcLen = max(p.srcLen, int64(len(p.src)))
	} else {
		p.src, p.ext, p.srcLen = f.chunkSourceLocked(ci)
	}
	p.newCap = growCap(0, max(p.srcLen, end), fs.cs)
	p.need = p.newCap
	return p
}

// growCap picks a buffer capacity for n bytes: doubling, in whole
// segments, at most one chunk. A buffer past a quarter chunk is most likely
// a sequential writer's: it gets the whole chunk at once, saving copies.
func growCap(old, n, chunk int64) int64 {
	if n >= chunk/4 {
		return chunk
	}
	c := max(2*old, (n+crypt.SegmentSize-1)/crypt.SegmentSize*crypt.SegmentSize)
	return min(max(c, n), chunk)
}

// chunkSourceLocked returns the current content of chunk ci as either
// in-memory bytes or an extent to read (a zero extent reads as zeros), and
// its valid length. The caller holds f.mu.
func (f *file) chunkSourceLocked(ci int64) ([]byte, meta.Extent, int64) {
	if v := f.chunks[ci]; v != nil {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.data != nil {
			return v.data, meta.Extent{}, int64(len(v.data))
		}
		return nil, v.ext, int64(v.ext.Length)
	}
	if ci*f.fs.cs >= f.truncAt || ci >= int64(len(f.base)) {
		return nil, meta.Extent{}, 0
	}
	e := f.base[ci]
	return nil, e, int64(e.Length)
}

func (fs *Vault) writeChunk(ctx context.Context, f *file, ci, co int64, p []byte) error {
	end := co + int64(len(p))
	var reserved int64
	defer func() { fs.budget.release(reserved) }()
	var plan chunkPlan
	for {
		f.mu.Lock()
		plan = fs.planChunk(f, ci, end)
		f.mu.Unlock()
		if plan.need <= reserved {
			break
		}
		if fs.budget.tryAcquire(plan.need - reserved) {
			reserved = plan.need
			break
		}
		if err := fs.waitForMemory(ctx, f, ci, plan.need-reserved); err != nil {
			return err
		}
		reserved = plan.need
		// Others may have frozen our buffer meanwhile: plan again.
	}
	var old []byte
	if !plan.inPlace && plan.srcLen > 0 && (co > 0 || end < plan.srcLen) {
		old = plan.src
		if old == nil && !plan.patched {
			var err error
			if old, err = fs.readChunk(ctx, f, plan.ext, plan.srcLen); err != nil {
				return err
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var v *version
	if plan.inPlace {
		v = f.chunks[ci]
		v.data = resize(v.data, end, plan.newCap)
	} else {
		v = &version{data: make([]byte, max(int64(len(old)), end, plan.srcLen), plan.newCap), rewrite: plan.srcLen > 0}
		copy(v.data, old)
		v.fresh.add(0, int64(len(old)))
		if prev := f.chunks[ci]; prev != nil {
			if prev.park {
				// Back from the staging area: what was written
				// before still counts towards completing the chunk.
				v.written, v.rewrite = prev.written.clone(), false
			}
			if len(prev.patches) > 0 {
				// Its patches stay below the new version; of its
				// buffer (a park's, still running) only what it
				// held above them counts.
				v.patches, prev.patches = prev.patches, nil
				v.fresh = cover{}
				if old != nil {
					v.fresh = prev.fresh.clone()
				}
			}
			fs.dropVersion(prev)
		}
		f.chunks[ci] = v
	}
	reserved -= plan.need
	v.charged += plan.need
	if len(v.patches) > 0 {
		c := v.fresh.clone()
		c.add(co, end)
		if c.lost {
			// Too scattered to say what is above the patches: the
			// version holds the whole chunk from now on.
			if err := fs.mergeLocked(f, v); err != nil {
				return err
			}
		}
	}
	copy(v.data[co:], p)
	v.fresh.add(co, end)
	grew := ci*fs.cs+end > f.size
	f.size = max(f.size, ci*fs.cs+end)
	f.touchLocked()
	v.tick = fs.count.writes.Add(1)
	v.written.add(co, end)
	if fs.completeLocked(f, ci, v, grew) {
		// Every byte of the chunk is written: seal and upload it while
		// the writer goes on.
		fs.freezeLocked(f, v)
	}
	return nil
}

// completeLocked reports whether writes filled chunk ci's version v: all
// of the chunk, or all of it up to the end of file when the file's size
// was set before (ftruncate, then pwrites). A chunk the last write grew
// the file into is not complete: an appending writer goes on filling it.
// Only a complete chunk is sent while the file is being written (issue
// 20); partial ones wait for close, fsync or a memory shortage. The
// caller holds f.mu.
func (fs *Vault) completeLocked(f *file, ci int64, v *version, grew bool) bool {
	n := min(fs.cs, f.size-ci*fs.cs)
	if n < fs.cs && grew {
		return false
	}
	return v.written.covers(n)
}

// resize makes data hold n bytes in a buffer of capacity c, zeroing any
// bytes it exposes (they may hold data from before a truncate).
func resize(data []byte, n, c int64) []byte {
	old := int64(len(data))
	if n <= old {
		return data
	}
	if n > int64(cap(data)) {
		nb := make([]byte, n, c)
		copy(nb, data)
		return nb
	}
	data = data[:n]
	clear(data[old:])
	return data
}

func (f *file) touchLocked() {
	f.mtime = now()
	f.gen++
	f.dirty = true
}

// readChunk reads the first n bytes of published chunk content.
func (fs *Vault) readChunk(ctx context.Context, f *file, e meta.Extent, n int64) ([]byte, error) {
	if b, ok := fs.clean.get(e, n); ok {
		return b, nil
	}
	buf := make([]byte, n)
	if err := fs.readExtentOnce(ctx, e, 0, buf); err != nil {
		return nil, fs.objectError(f.ino, e.Object, err)
	}
	return buf, nil
}

// waitForMemory blocks until n budget bytes are free. While the budget is
// exhausted and no upload is running that would free some, it freezes
// buffers (other files', and this file's other chunks) so that uploads
// start: writers never wait on memory nobody will free.
func (fs *Vault) waitForMemory(ctx context.Context, f *file, ci, n int64) error {
	f.mu.Lock()
	f.waiting = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.waiting = false
		f.mu.Unlock()
	}()
	fs.clean.release()
	// Small versions waiting to be packed hold memory too: they leave at
	// once while this writer waits, including those closed meanwhile.
	defer fs.up.pack.squeeze()()
	for {
		if fs.up.inflight.Load() == 0 {
			fs.evict(f, ci, n)
		}
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := fs.budget.acquire(wctx, n)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
	}
}

func (f *file) freezeAllLocked(keep int64) {
	for ci, v := range f.chunks {
		if ci != keep {
			f.fs.freezeLocked(f, v)
		}
	}
}

// freezeLocked makes v immutable and starts its upload, or restarts an
// upload that failed, or merges its patches and sends the result (park.go).
// The caller holds f.mu.
func (fs *Vault) freezeLocked(f *file, v *version) {
	v.frozen = true
	v.mu.Lock()
	v.send = true
	parking := v.park && v.done != nil && !isClosed(v.done)
	parked := v.data == nil
	v.mu.Unlock()
	if parking {
		return // the park's end sends it (parked)
	}
	if len(v.patches) > 0 {
		var err error
		if parked {
			err = fs.mergeParkedLocked(f, v)
		} else {
			err = fs.mergeLocked(f, v)
		}
		if err != nil {
			v.mu.Lock()
			v.err, v.done = err, closedChan
			v.mu.Unlock()
			return
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.data == nil || v.dropped {
		return // only an extent (already uploaded, or clamped)
	}
	if v.done == nil || (isClosed(v.done) && v.err != nil) {
		fs.up.start(v)
	}
}
