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
// It is sealed as the object it would be and written to the staging area
// without being queued for upload: its memory is free, its content reads
// back from local disk, and
//   - a write that comes back to it copies it into a new version (as it
//     would copy published content) and the parked object is removed
//     unsent;
//   - a publish (close, fsync, commit, unmount) queues its upload like any
//     staged object's (freezeLocked).
// The staging area holds parked objects exactly as it holds staged ones
// (docs/FORMAT.md, "Local staging"): no intent names them until they are
// published, so recovery after a crash removes them with the other
// unneeded staged objects, as it would drop unpublished writes in memory.
// Without a staging area (no cache directory), or when it is full, a
// partial chunk is uploaded as before.

// evict frees write memory for a writer that waits for n bytes while no
// upload is running that would free some. Without a staging area it
// freezes (starts uploading) every unfrozen buffer: other files' that are
// idle or waiting for memory, and self's except chunk keep. With one it
// takes from those buffers until n bytes are free, the most filled first
// and of those the least recently written: small ones are uploaded (they
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
		small := int64(len(v.data)) <= fs.cs/16
		v.mu.Unlock()
		if small {
			fs.freezeLocked(v)
			g.mu.Unlock()
			continue
		}
		v.frozen, v.park = true, true
		v.mu.Lock()
		v.done = make(chan struct{})
		v.err = nil
		v.mu.Unlock()
		g.mu.Unlock()
		fs.up.park(v)
	}
}

// park seals v, frozen by evict with its done channel set, into the
// staging area without queuing its upload (see above), or uploads it if
// the staging area cannot take it.
func (u *uploader) park(v *version) {
	fs := u.fs
	v.mu.Lock()
	data := v.data
	v.mu.Unlock()
	full := int64(len(data))
	trimmed := bytes.TrimRight(data, "\x00")
	if len(trimmed) == 0 {
		u.parked(v, meta.Extent{}, full) // only zeros: a hole
		return
	}
	plain := padTail(trimmed, full, fs.cs)
	id, err := crypt.NewObjectID(fs.opts.Rand)
	var sealed []byte
	if err == nil {
		sealed, err = crypt.SealObject(fs.opts.Keys, id, plain)
	}
	if err != nil || !fs.stage.hold(id, sealed, full) {
		v.mu.Lock()
		u.send(v)
		v.mu.Unlock()
		return
	}
	fs.count.parks.Add(1)
	u.parked(v, meta.Extent{Object: id, ObjectSize: uint32(len(plain)), Length: uint32(len(trimmed))}, full)
}

// parked records the end of v's park: its memory goes back, and its
// object stays parked unless v was published meanwhile (then its upload
// is queued) or dropped (then it is removed).
func (u *uploader) parked(v *version, ext meta.Extent, plain int64) {
	v.mu.Lock()
	v.ext = ext
	freed := v.charged
	v.data, v.charged = nil, 0
	done := v.done
	switch {
	case ext.IsHole():
	case v.dropped:
		u.fs.stage.discard(ext.Object)
	case v.send:
		u.fs.stage.unpark(ext.Object)
	default:
		v.parked = true
	}
	v.mu.Unlock()
	u.fs.budget.release(freed)
	close(done)
}

// takeParked reports whether v's object is parked and makes v forget it
// (the caller hands it to another version).
func (v *version) takeParked() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	p := v.parked
	v.parked = false
	return p
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
