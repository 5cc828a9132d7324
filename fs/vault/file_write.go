package vault

import (
	"context"
	"syscall"
	"time"

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

// testHookPlanned, if set (tests), runs in writeChunk between planning a
// write (under file.mu) and carrying it out (under file.mu again).
var testHookPlanned func(f *file, ci int64)

// chunkPlan is what writing into one chunk takes, decided under file.mu.
type chunkPlan struct {
	inPlace bool        // write into the existing unfrozen version
	src     *chunkBuf   // in-memory content of the chunk to copy (may be nil)
	ext     meta.Extent // else: published content to read first
	srcLen  int64       // valid bytes of the old content
	patched bool        // the old version has patches: they stay below, nothing is read
	copyOld bool        // the write leaves some of the old content: it is copied
	dense   bool        // a new buffer with nothing copied starts contiguous (else in pieces)
	need    int64       // budget bytes the write needs (at most: what it allocates is charged)
}

func (fs *Vault) planChunk(f *file, ci, co, end int64) chunkPlan {
	if v := f.chunks[ci]; v != nil && !v.frozen {
		p := chunkPlan{inPlace: true, need: v.data.missing(co, end)}
		if mergesAfter(v.fresh, v.patches, co, end) || len(v.patches) > 0 && fs.completesLocked(f, ci, co, end, v.written) {
			p.need += v.data.missing(0, patchesEnd(v.patches))
		}
		return p
	}
	var p chunkPlan
	if v := f.chunks[ci]; v != nil && len(v.patches) > 0 {
		p.patched, p.srcLen = true, patchesEnd(v.patches)
		v.mu.Lock()
		p.src = v.data // a park's buffer: what it holds above them
		v.mu.Unlock()
		if p.src != nil {
			p.srcLen = max(p.srcLen, p.src.Len())
		}
		var fresh, written cover
		if p.src != nil {
			fresh = v.fresh
		}
		if v.park {
			written = v.written
		}
		if mergesAfter(fresh, v.patches, co, end) || fs.completesLocked(f, ci, co, end, written) {
			// The whole chunk, merged under the write.
			p.need = fs.cs
			p.copyOld = p.srcLen > 0 && (co > 0 || end < p.srcLen)
			return p
		}
	} else {
		p.src, p.ext, p.srcLen = f.chunkSourceLocked(ci)
	}
	p.copyOld = p.srcLen > 0 && (co > 0 || end < p.srcLen)
	// A writer that appends, or rewrites what is there from the chunk's
	// start, gets one contiguous buffer (sealed without a copy); one
	// that fills a file sized beforehand (ftruncate, then blocks in its
	// own order) gets pieces from its first write.
	p.dense = co == 0 && (ci*fs.cs+end > f.size || p.srcLen > 0)
	switch {
	case !p.copyOld || p.patched && p.src == nil:
		if p.dense {
			p.need = growCap(0, end, fs.cs)
		} else {
			p.need = segsFor(fs.piece, co, end)
		}
	case p.src != nil && !p.src.isDense():
		p.need = p.src.allocated() + segsFor(fs.piece, co, end)
	default:
		// Copied into a contiguous buffer, then grown by growCap's
		// doubling at most once more.
		p.need = min(fs.cs, 2*growCap(0, max(p.srcLen, end), fs.cs))
	}
	return p
}

// mergesAfter reports whether a write of [co, end) over patches, with
// fresh what the version holds above them, makes writeChunk merge them
// into the version's buffer: when the ranges are too scattered to track.
func mergesAfter(fresh cover, patches []patch, co, end int64) bool {
	if len(patches) == 0 {
		return false
	}
	c := fresh.clone()
	c.add(co, end)
	return c.lost
}

// chunkSourceLocked returns the current content of chunk ci as either
// in-memory bytes or an extent to read (a zero extent reads as zeros), and
// its valid length. The caller holds f.mu.
func (f *file) chunkSourceLocked(ci int64) (*chunkBuf, meta.Extent, int64) {
	if v := f.chunks[ci]; v != nil {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.data != nil {
			return v.data, meta.Extent{}, v.data.Len()
		}
		return nil, v.ext, int64(v.ext.Length)
	}
	if ci*f.fs.cs >= f.truncAt || ci >= int64(len(f.base)) {
		return nil, meta.Extent{}, 0
	}
	e := f.base[ci]
	return nil, e, int64(e.Length)
}

// chargeLocked charges v for what its buffer allocated since it held
// before bytes: from *reserved (budget the writer acquired) first, the
// rest forced (a merge under file.mu cannot wait). The caller holds f.mu.
func (fs *Vault) chargeLocked(v *version, before int64, reserved *int64) {
	delta := v.data.allocated() - before
	if delta <= 0 {
		return
	}
	take := int64(0)
	if reserved != nil {
		take = min(delta, *reserved)
		*reserved -= take
	}
	fs.budget.force(delta - take)
	v.charged += delta
}

// reservePlan plans a write of chunk ci's bytes [co, end) and holds the
// budget it needs in *reserved (which may already hold some), waiting
// for memory if it must; after a wait it plans again, as others may have
// frozen the chunk's buffer meanwhile.
func (fs *Vault) reservePlan(ctx context.Context, f *file, ci, co, end int64, reserved *int64) (chunkPlan, error) {
	for {
		f.mu.Lock()
		plan := fs.planChunk(f, ci, co, end)
		f.mu.Unlock()
		if plan.need <= *reserved {
			return plan, nil
		}
		if fs.budget.tryAcquire(plan.need - *reserved) {
			*reserved = plan.need
			return plan, nil
		}
		if err := fs.waitForMemory(ctx, f, ci, plan.need-*reserved); err != nil {
			return plan, err
		}
		*reserved = plan.need
	}
}

func (fs *Vault) writeChunk(ctx context.Context, f *file, ci, co int64, p []byte) error {
	end := co + int64(len(p))
	var reserved int64
	defer func() { fs.budget.release(reserved) }()
	var plan chunkPlan
	var old []byte
	for {
		var err error
		if plan, err = fs.reservePlan(ctx, f, ci, co, end, &reserved); err != nil {
			return err
		}
		old = nil
		if !plan.inPlace && plan.copyOld && plan.src == nil && !plan.patched {
			if old, err = fs.readChunk(ctx, f, plan.ext, plan.srcLen); err != nil {
				return err
			}
		}
		if testHookPlanned != nil {
			testHookPlanned(f, ci)
		}
		f.mu.Lock()
		if v := f.chunks[ci]; !plan.inPlace || v != nil && !v.frozen {
			break
		}
		// Frozen since the plan (another writer's eviction, which picks
		// chunks of writers waiting for memory, parked or sent it):
		// writing into it would change bytes being sealed, or a buffer
		// already dropped. Plan again.
		f.mu.Unlock()
	}
	defer f.mu.Unlock()
	var v *version
	if plan.inPlace {
		v = f.chunks[ci]
	} else {
		var buf *chunkBuf
		switch {
		case plan.copyOld && plan.src != nil:
			buf = plan.src.clone(-1)
		case old != nil:
			buf = chunkBufOf(fs.piece, fs.cs, old)
		default:
			buf = newChunkBuf(fs.piece, fs.cs)
			if !plan.dense {
				buf.toPieces()
			}
		}
		copied := buf.Len()
		buf.extend(max(end, plan.srcLen))
		v = &version{data: buf, rewrite: plan.srcLen > 0}
		fs.chargeLocked(v, 0, &reserved)
		v.fresh.add(0, copied)
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
				if copied > 0 {
					v.fresh = prev.fresh.clone()
				}
			}
			fs.dropVersion(prev)
		}
		f.chunks[ci] = v
	}
	if mergesAfter(v.fresh, v.patches, co, end) {
		// Too scattered to say what is above the patches: the version
		// holds the whole chunk from now on.
		if err := fs.mergeLocked(f, v, &reserved); err != nil {
			return err
		}
	}
	before := v.data.allocated()
	v.data.writeAt(p, co)
	fs.chargeLocked(v, before, &reserved)
	v.fresh.add(co, end)
	target := fs.fillTargetLocked(f, ci, end)
	f.size = max(f.size, ci*fs.cs+end)
	f.touchLocked()
	v.tick = fs.count.writes.Add(1)
	v.written.add(co, end)
	if target >= 0 && v.written.covers(target) {
		// Every byte of the chunk is written: seal and upload it while
		// the writer goes on. Patches below are merged with the budget
		// the plan reserved for them (a failure is left to
		// freezeLocked, which tries again and records it).
		if len(v.patches) > 0 {
			_ = fs.mergeLocked(f, v, &reserved)
		}
		fs.freezeLocked(f, v)
	}
	return nil
}

// fillTargetLocked is how many bytes of chunk ci writes must have filled
// for a write ending at chunk offset end to complete it: all of the chunk,
// or all of it up to the end of file when the file's size was set before
// (ftruncate, then pwrites); -1 when the write grows the file into the
// chunk, which is then not complete: an appending writer goes on filling
// it. Only a complete chunk is sent while the file is being written
// (issue 20); partial ones wait for close, fsync or a memory shortage.
// The caller holds f.mu and calls it before the write changes the file's
// size.
func (fs *Vault) fillTargetLocked(f *file, ci, end int64) int64 {
	n := min(fs.cs, max(f.size, ci*fs.cs+end)-ci*fs.cs)
	if n < fs.cs && ci*fs.cs+end > f.size {
		return -1
	}
	return n
}

// completesLocked reports whether a write of chunk ci's bytes [co, end),
// over a version whose writes filled written, completes the chunk (see
// fillTargetLocked; the plan asks before the write).
func (fs *Vault) completesLocked(f *file, ci, co, end int64, written cover) bool {
	n := fs.fillTargetLocked(f, ci, end)
	if n < 0 {
		return false
	}
	w := written.clone()
	w.add(co, end)
	return w.covers(n)
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

// memoryPoll is how long a writer waiting for memory waits before it
// looks again at what it could free (evict, the pack).
const memoryPoll = 50 * time.Millisecond

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
	// Small versions waiting to be packed hold memory too: while this
	// writer waits they leave when no other upload is in flight, and at
	// the latest each time it has waited memoryPoll (squeeze).
	defer fs.up.pack.squeeze()()
	for {
		if fs.up.inflight.Load() == 0 {
			fs.evict(f, ci, n)
		}
		wctx, cancel := context.WithTimeout(ctx, memoryPoll)
		err := fs.budget.acquire(wctx, n)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		fs.up.pack.flush()
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
			err = fs.mergeLocked(f, v, nil)
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
