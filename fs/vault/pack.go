package vault

import (
	"bytes"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// packer seals small chunk versions (a small file, the short last chunk of
// a file) together into shared objects, each version published as an
// extent (pack id, pack size, offset, length) into one: a folder of 2,000
// small files costs a few dozen PUTs instead of 2,000 (docs/FORMAT.md,
// "Chunk objects", allows any number of extents into one object; prune
// keeps an object while any snapshot references it).
//
// A pack is never larger than a chunk, so that it is padded by the rule
// of every object (paddedSize) and can always be sealed (a chunk is at
// most crypt.MaxObjectSize). It leaves when it fills a chunk, before a
// version that would make it larger joins (each is at most a sixteenth
// of a chunk, so such a pack is at least 15/16 full), when the first
// version in it has waited the linger (Tuning.PackLinger, 50 ms), or at
// once when something needs it in the store (an fsync, a commit: see
// flush) or needs the memory it holds (a writer waiting for the write
// budget while no other upload would free any: see squeeze). close(2)
// does not wait for uploads, so the linger costs an application nothing;
// it bounds the memory held to one chunk and lets a burst of small files
// share a few objects.
type packer struct {
	u      *uploader
	max    int64 // largest version packed (its length)
	target int64 // the chunk size: no pack is larger
	linger time.Duration

	mu      sync.Mutex
	cur     []packItem
	size    int64       // sum of cur's data lengths
	curN    int64       // sum of cur's version lengths (counted in u.inflight)
	timer   *time.Timer // sends cur after linger; nil when cur is empty
	urgent  bool        // the FS is closing: nothing lingers any more
	waiters int         // writers waiting for memory (squeeze)
}

type packItem struct {
	v    *version
	data []byte         // the version's data without trailing zeros
	cid  crypt.ObjectID // content id of data (crypt.ContentID); zero for no data
	n    int64          // the version's length (what Progress counts)
	done chan struct{}
}

func newPacker(u *uploader, chunk int64, linger time.Duration) *packer {
	return &packer{u: u, max: chunk / 16, target: chunk, linger: linger}
}

// add takes v's upload if v is small enough to be packed. The caller holds
// v.mu, has counted n in the uploader's inflight and queued totals, and
// set v.done.
func (p *packer) add(v *version, n int64) bool {
	if p == nil || n > p.max {
		return false
	}
	it := packItem{v: v, data: bytes.TrimRight(v.data.bytes(nil), "\x00"), n: n, done: v.done}
	if len(it.data) > 0 {
		// Identical bytes already in a pack the tree references (format
		// 3): reference them, pack nothing (dedup.go).
		it.cid = crypt.ContentID(p.u.fs.opts.Keys, it.data)
		if e, ok := p.u.fs.tree.ContentExtent(it.cid); ok && int(e.Length) == len(it.data) {
			u := p.u
			go func() { // the caller holds v.mu, which finish takes
				u.inflight.Add(-n)
				u.fs.dedup.hit(n)
				u.finish(v, n, e, nil, it.done, false, true, it.data)
			}()
			return true
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cur) > 0 && p.size+int64(len(it.data)) > p.target {
		p.sendLocked() // it would cross the chunk: what waits leaves first
	}
	p.cur = append(p.cur, it)
	p.size += int64(len(it.data))
	p.curN += n
	switch {
	case p.size >= p.target || p.urgent || p.waiters > 0 && !p.othersInFlightLocked():
		p.sendLocked()
	case p.timer == nil:
		p.timer = time.AfterFunc(p.linger, p.flush)
	}
	return true
}

// holds reports whether vers is one small version the packer took and
// has not stored yet (a small file's whole content, waiting or, if its
// pack filled up, uploading): what an fsync may gather (packRound).
func (p *packer) holds(vers map[int64]*version) bool {
	if p == nil || len(vers) != 1 {
		return false
	}
	for _, v := range vers {
		v.mu.Lock()
		held := v.data != nil && v.data.Len() <= p.max && v.done != nil && !isClosed(v.done)
		v.mu.Unlock()
		return held
	}
	return false
}

// flush sends what waits to be packed now.
func (p *packer) flush() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if len(p.cur) > 0 {
		p.sendLocked()
	}
	p.mu.Unlock()
}

// squeeze is called by a writer that waits for write memory, until it
// calls the returned release. Small versions hold budget bytes until their
// pack is uploaded; one that lingered while a writer waited would hold the
// memory that writer needs for the whole linger. So while a writer waits,
// what waits to be packed is sent as soon as no other upload is in flight
// (then nothing else would free memory), and the writer sends it itself
// each time it has waited for a while (waitForMemory). While other
// uploads are in flight, the versions closed meanwhile gather into the
// next pack: sending each at once, alone, made a store slower than the
// writer cost one PUT per small file (TestPacksStayFullWhileWritersWait).
func (p *packer) squeeze() (release func()) {
	if p == nil {
		return func() {}
	}
	p.mu.Lock()
	p.waiters++
	if len(p.cur) > 0 && !p.othersInFlightLocked() {
		p.sendLocked()
	}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.waiters--
		p.mu.Unlock()
	}
}

// othersInFlightLocked reports whether uploads other than the versions
// waiting to be packed are in flight: their end frees write memory.
func (p *packer) othersInFlightLocked() bool {
	return p.u.inflight.Load() > p.curN
}

// waiting reports how many writers wait for memory (tests).
func (p *packer) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiters
}

// drain sends what waits and makes every later version leave at once
// (Close: nothing may wait for a timer once the FS is going away).
func (p *packer) drain() {
	p.mu.Lock()
	p.urgent = true
	p.mu.Unlock()
	p.flush()
}

// sendLocked starts uploading what waits as one pack.
func (p *packer) sendLocked() {
	batch := p.cur
	p.cur, p.size, p.curN = nil, 0, 0
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.u.wg.Go(func() { p.upload(batch) })
}

// upload seals batch as one object, stores it and finishes every version
// in it.
func (p *packer) upload(batch []packItem) {
	u := p.u
	// Each distinct content goes into the pack once: identical small
	// files in one batch share their bytes (at[i] is item i's offset).
	var total, plainLen int64
	at := make([]int64, len(batch))
	first := make(map[crypt.ObjectID]int64, len(batch))
	for i, it := range batch {
		plainLen += it.n
		if len(it.data) == 0 {
			continue
		}
		if off, ok := first[it.cid]; ok {
			at[i] = off
			continue
		}
		first[it.cid], at[i] = total, total
		total += int64(len(it.data))
	}
	var plain []byte
	if total > 0 {
		plain = make([]byte, paddedSize(total, u.fs.cs))
		for i, it := range batch {
			copy(plain[at[i]:], it.data)
		}
	}
	finish := func(id crypt.ObjectID, staged bool, err error) {
		for i, it := range batch {
			var ext meta.Extent // all zeros: a hole
			if l := int64(len(it.data)); l > 0 {
				ext = meta.Extent{Object: id, ObjectSize: uint32(len(plain)), Offset: uint32(at[i]), Length: uint32(l), Content: it.cid}
			}
			u.inflight.Add(-it.n)
			u.finish(it.v, it.n, ext, err, it.done, staged, false, it.data)
		}
	}
	if total == 0 {
		finish(crypt.ObjectID{}, false, nil)
		return
	}
	u.sem <- struct{}{}
	u.store(plain, plainLen, finish)
	<-u.sem
}
