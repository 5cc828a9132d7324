package vault

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// Parking: when write memory runs short, a chunk that writes have only
// partly filled is not uploaded (a writer filling the file out of order
// would come back and make a new whole-chunk object each time, issue 20).
// What its version holds that is not already below it is sealed as a
// patch (an object of the staging area holding those byte ranges one
// after another) without being queued for upload: its memory is free,
// its content reads back from local disk, and
//   - a write that comes back to it starts a new version over the same
//     patches: nothing is read back, and only what is written from then on
//     is parked next time (each byte goes to local disk about once, where
//     sealing the whole chunk at every park cost a chunk per return: ~32x
//     the file for 4 GiB in random 128 KiB writes under a 256 MiB budget);
//   - when the chunk is complete, or published (close, fsync, commit,
//     unmount), its patches are merged: into the version's buffer, which
//     is then sealed and sent as any chunk (mergeLocked), or, for a version
//     with no buffer, into one object of the staging area whose upload is
//     queued like any staged object's (mergeParkedLocked), so a publish of
//     many parked chunks never holds more than one chunk's merge in memory.
// The staging area holds patches exactly as it holds staged objects
// (docs/FORMAT.md, "Local staging"): no intent names them until they are
// merged and published, so recovery after a crash removes them with the
// other unneeded staged objects, as it would drop unpublished writes in
// memory. Without a staging area (no cache directory), or when it is full,
// a partial chunk is uploaded as before.

// patch is part of a chunk parked in the staging area: chunk byte ranges
// spans, in order, sealed one after another as object ext.Object (Offset
// 0; ext.Length may stop short of the spans' total: trailing zeros are
// not stored). A zero ext is a patch of zeros.
type patch struct {
	ext   meta.Extent
	spans []span
}

// end is the chunk offset where p's last range ends.
func (p patch) end() int64 { return p.spans[len(p.spans)-1].end }

// size is the bytes p holds.
func (p patch) size() int64 {
	var n int64
	for _, s := range p.spans {
		n += s.end - s.off
	}
	return n
}

// patchesEnd is where the last range of any of ps ends.
func patchesEnd(ps []patch) int64 {
	var n int64
	for _, p := range ps {
		n = max(n, p.end())
	}
	return n
}

// subtract returns the parts of rest (sorted, disjoint) outside s.
func subtract(rest []span, s span) []span {
	var out []span
	for _, r := range rest {
		if r.end <= s.off || r.off >= s.end {
			out = append(out, r)
			continue
		}
		if r.off < s.off {
			out = append(out, span{r.off, s.off})
		}
		if r.end > s.end {
			out = append(out, span{s.end, r.end})
		}
	}
	return out
}

// intersect returns the parts of rest (sorted, disjoint) inside s.
func intersect(rest []span, s span) []span {
	var out []span
	for _, r := range rest {
		if lo, hi := max(r.off, s.off), min(r.end, s.end); lo < hi {
			out = append(out, span{lo, hi})
		}
	}
	return out
}

// resolvePatchedLocked is resolveLocked for chunk bytes [co, co+n) of a
// version with patches: what its buffer holds above them is copied into d
// (nil for read-ahead), the newest patch holding each other byte is a
// piece to fetch, and bytes nothing holds are zeros. The caller holds f.mu.
func (v *version) resolvePatchedLocked(d []byte, co, n int64, pieces []piece) []piece {
	rest := []span{{co, co + n}}
	v.mu.Lock()
	if v.data != nil {
		for _, s := range v.fresh.spans {
			for _, r := range intersect(rest, s) {
				if d != nil {
					k := v.data.readAt(d[r.off-co:r.end-co], r.off)
					clear(d[r.off-co+int64(k) : r.end-co])
				}
			}
			rest = subtract(rest, s)
		}
	}
	v.mu.Unlock()
	for i := len(v.patches) - 1; i >= 0 && len(rest) > 0; i-- {
		p := v.patches[i]
		var at int64 // where the range starts in the object
		for _, s := range p.spans {
			for _, r := range intersect(rest, s) {
				pc := piece{ext: p.ext, off: at + r.off - s.off, n: r.end - r.off}
				if d != nil {
					pc.dst = d[r.off-co : r.end-co]
				}
				pieces = append(pieces, pc)
			}
			rest = subtract(rest, s)
			at += s.end - s.off
		}
	}
	if d != nil {
		for _, r := range rest {
			clear(d[r.off-co : r.end-co])
		}
	}
	return pieces
}

// applyPatches writes the bytes of f's patches ps with put (chunk offset
// off), oldest first, except those in above (a version's own writes over
// them).
func (fs *Vault) applyPatches(f *file, put func(p []byte, off int64), ps []patch, above []span) error {
	for _, p := range ps {
		obj := make([]byte, p.size())
		if err := fs.readExtentOnce(fs.ctx, p.ext, 0, obj); err != nil {
			return fs.objectError(f.ino, p.ext.Object, err)
		}
		var at int64
		for _, s := range p.spans {
			rest := []span{s}
			for _, a := range above {
				rest = subtract(rest, a)
			}
			for _, r := range rest {
				put(obj[at+r.off-s.off:at+r.end-s.off], r.off)
			}
			at += s.end - s.off
		}
	}
	return nil
}

// discardPatches removes ps's objects from the staging area unsent.
func (fs *Vault) discardPatches(ps []patch) {
	for _, p := range ps {
		if !p.ext.IsHole() {
			fs.stage.discard(p.ext.Object)
		}
	}
}

// mergeLocked writes v's patches into its buffer under what was written
// above them, and removes them: v holds the whole chunk again. The caller
// holds f.mu; v has a buffer and no park running. What the merge
// allocates is charged from *reserved first (reserved may be nil).
func (fs *Vault) mergeLocked(f *file, v *version, reserved *int64) error {
	v.mu.Lock()
	data := v.data
	data.extend(patchesEnd(v.patches))
	v.mu.Unlock()
	before := data.allocated()
	err := fs.applyPatches(f, data.writeAt, v.patches, v.fresh.spans)
	fs.chargeLocked(v, before, reserved)
	if err != nil {
		return err
	}
	fs.discardPatches(v.patches)
	v.patches = nil
	v.fresh = cover{}
	v.fresh.add(0, data.Len())
	f.layout++
	return nil
}

// mergeParkedLocked makes parked version v, being published, one object
// of the staging area and queues its upload: its patches merged in a
// buffer that lives only as long as this call (or, if the staging area
// cannot take the object, uploaded from memory). The caller holds f.mu.
func (fs *Vault) mergeParkedLocked(f *file, v *version) error {
	ps := v.patches
	if len(ps) == 1 && len(ps[0].spans) == 1 && ps[0].spans[0].off == 0 {
		// One patch from the start: it is the chunk (most often one
		// parked once and never written again).
		v.patches = nil
		fs.sendParked(v, ps[0].ext)
		return nil
	}
	full := patchesEnd(ps)
	buf := make([]byte, full)
	if err := fs.applyPatches(f, func(p []byte, off int64) { copy(buf[off:], p) }, ps, nil); err != nil {
		return err
	}
	ext, ok := fs.parkObject(buf, full)
	fs.discardPatches(ps)
	v.patches = nil
	f.layout++
	if ok {
		fs.sendParked(v, ext)
		return nil
	}
	v.mu.Lock()
	v.data = adoptChunkBuf(fs.piece, fs.cs, buf)
	fs.chargeLocked(v, 0, nil)
	fs.up.start(v)
	v.mu.Unlock()
	return nil
}

// sendParked makes ext, a whole chunk parked in the staging area (or a
// hole), v's content and queues its upload.
func (fs *Vault) sendParked(v *version, ext meta.Extent) {
	v.mu.Lock()
	v.ext, v.err = ext, nil
	v.mu.Unlock()
	if !ext.IsHole() {
		fs.stage.unpark(ext.Object)
	}
}

// parkObject seals plain (standing for full bytes: trailing zeros are not
// stored) as a new object of the staging area, not queued for upload. A
// zero extent with ok is only zeros; !ok: the staging area cannot take it.
func (fs *Vault) parkObject(plain []byte, full int64) (meta.Extent, bool) {
	trimmed := bytes.TrimRight(plain, "\x00")
	if len(trimmed) == 0 {
		return meta.Extent{}, true
	}
	padded := padTail(trimmed, full, fs.cs)
	id, err := crypt.NewObjectID(fs.opts.Rand)
	var sealed []byte
	if err == nil {
		// hold writes it to local disk before it returns: the buffer
		// can always be pooled.
		var release func()
		sealed, release, err = fs.up.bufs.seal(fs.opts.Keys, id, flatPlain(padded), true)
		if err == nil {
			defer release()
		}
	}
	if err != nil || !fs.stage.hold(id, sealed, full) {
		return meta.Extent{}, false
	}
	fs.count.parkedBytes.Add(int64(len(sealed)))
	return meta.Extent{Object: id, ObjectSize: uint32(len(padded)), Length: uint32(len(trimmed))}, true
}

// evict frees write memory for a writer that waits for n bytes while no
// upload is running that would free some. Without a staging area it
// freezes (starts uploading) every unfrozen buffer: other files' that are
// idle or waiting for memory, and self's except chunk keep. With one it
// takes from those buffers until n bytes are free, the most filled first
// and of those the least recently written: small files are uploaded (they
// are packed), the others parked. A writer filling a file in random order
// is least likely to come back soon to the chunk with the fewest bytes
// left to write (a quarter fewer parks than least recently written
// alone, in a simulation of 64 MiB in 128 KiB blocks with memory for 11
// of its 16 chunks); one filling it in sequence with some disorder (as
// Syncthing does) never comes back to an old chunk.
func (fs *Vault) evict(self *file, keep, n int64) {
	fs.mu.Lock()
	files := make([]*file, 0, len(fs.files))
	for _, g := range fs.files {
		files = append(files, g)
	}
	fs.mu.Unlock()
	type victim struct {
		f            *file
		ci           int64
		v            *version
		filled, tick int64
	}
	var victims []victim
	for _, g := range files {
		idle := g == self
		if !idle && g.wmu.TryLock() {
			idle = true
			g.wmu.Unlock()
		}
		g.mu.Lock()
		if fs.stage == nil {
			switch {
			case g == self:
				g.freezeAllLocked(keep)
			case idle || g.waiting:
				g.freezeAllLocked(-1)
			}
		} else if idle || g.waiting {
			for ci, v := range g.chunks {
				if !v.frozen && (g != self || ci != keep) {
					victims = append(victims, victim{g, ci, v, v.written.filled(), v.tick})
				}
			}
		}
		g.mu.Unlock()
	}
	slices.SortFunc(victims, func(a, b victim) int {
		return cmp.Or(cmp.Compare(b.filled, a.filled), cmp.Compare(a.tick, b.tick))
	})
	var freed int64
	for _, vc := range victims {
		if freed >= n {
			break
		}
		g, v := vc.f, vc.v
		g.mu.Lock()
		if g.chunks[vc.ci] != v || v.frozen {
			g.mu.Unlock()
			continue
		}
		v.mu.Lock()
		freed += v.charged
		// A small file is uploaded (packed); a small buffer of a
		// large file is a chunk barely begun, parked like the others.
		small := v.data.Len() <= fs.cs/16 && g.size <= fs.cs/16
		v.mu.Unlock()
		if small {
			fs.freezeLocked(g, v)
			g.mu.Unlock()
			continue
		}
		v.frozen, v.park = true, true
		spans := slices.Clone(v.fresh.spans)
		below := len(v.patches) > 0
		v.mu.Lock()
		if v.fresh.lost {
			// Never with patches (writeChunk merges them first).
			spans = []span{{0, v.data.Len()}}
		}
		v.done = make(chan struct{})
		v.err = nil
		v.mu.Unlock()
		g.mu.Unlock()
		fs.up.park(g, v, spans, below)
	}
}

// park seals the ranges spans of v's buffer, frozen by evict with its done
// channel set, as a patch in the staging area without queuing its upload
// (see above), or uploads v if the staging area cannot take it. below says
// whether v has patches: then even zeros are parked (they cover bytes
// below).
func (u *uploader) park(f *file, v *version, spans []span, below bool) {
	fs := u.fs
	v.mu.Lock()
	data := v.data
	v.mu.Unlock()
	if len(spans) == 0 {
		u.parked(f, v, nil)
		return
	}
	var n int64
	for _, s := range spans {
		n += s.end - s.off
	}
	packed, release := u.flat.get(n)
	var at int64
	for _, s := range spans {
		k := data.readAt(packed[at:at+s.end-s.off], s.off)
		clear(packed[at+int64(k) : at+s.end-s.off])
		at += s.end - s.off
	}
	ext, ok := fs.parkObject(packed, int64(len(packed)))
	release()
	if !ok {
		u.unparkable(f, v)
		return
	}
	if ext.IsHole() && !below {
		u.parked(f, v, nil) // only zeros over nothing: a hole
		return
	}
	fs.count.parks.Add(1)
	u.parked(f, v, &patch{ext: ext, spans: spans})
}

// unparkable uploads v, which evict froze to park, because the staging
// area cannot take it: its patches merged into its buffer first.
func (u *uploader) unparkable(f *file, v *version) {
	f.mu.Lock()
	var err error
	if len(v.patches) > 0 {
		err = u.fs.mergeLocked(f, v, nil)
	}
	f.mu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.err = err
		close(v.done)
		return
	}
	u.send(v)
}

// parked records the end of v's park: its memory goes back and p (nil:
// nothing to park) joins its patches, merged at once if v was published
// meanwhile, or removed if v was dropped.
func (u *uploader) parked(f *file, v *version, p *patch) {
	fs := u.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	v.mu.Lock()
	freed := v.charged
	v.data, v.charged = nil, 0
	done := v.done
	dropped, send := v.dropped, v.send
	v.mu.Unlock()
	fs.budget.release(freed)
	defer close(done)
	if dropped {
		if p != nil {
			fs.discardPatches([]patch{*p})
		}
		return
	}
	if p != nil {
		v.patches = append(v.patches, *p)
	}
	v.fresh = cover{}
	if send && len(v.patches) > 0 {
		if err := fs.mergeParkedLocked(f, v); err != nil {
			v.mu.Lock()
			v.err = err
			v.mu.Unlock()
		}
	}
}

// unpark queues the upload of parked object id: it is published.
func (s *stager) unpark(id crypt.ObjectID) {
	s.mu.Lock()
	o := s.objs[id]
	s.mu.Unlock()
	if o != nil {
		s.fs.up.queued.Add(o.plain)
	}
	s.enqueue(id)
}

// discard removes parked object id from the staging area unsent: the
// chunk was written again, truncated away or deleted.
func (s *stager) discard(id crypt.ObjectID) {
	s.mu.Lock()
	o := s.objs[id]
	delete(s.objs, id)
	if o != nil {
		s.bytes -= o.size
	}
	s.mu.Unlock()
	if err := s.dir.RemoveObject(id); err != nil {
		s.fs.log.Warn("cannot remove a parked object from the staging area", "err", err)
	}
	if o != nil {
		close(o.done)
	}
}
