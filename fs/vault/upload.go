package vault

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// budget bounds the plaintext bytes held in write buffers. Writers reserve
// before they grow a buffer and block while the budget is exhausted; an
// upload that finishes gives its buffer's bytes back.
type budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	limit int64
	used  int64
	max   int64 // highest used, for tests and diagnostics
}

func newBudget(limit int64) *budget {
	b := &budget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// tryAcquire takes n bytes if they are free now.
func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit && b.used > 0 {
		return false
	}
	b.add(n)
	return true
}

// acquire takes n bytes, waiting until they are free or ctx ends. A request
// larger than the whole budget is granted once nothing else is held, so it
// cannot wait forever.
func (b *budget) acquire(ctx context.Context, n int64) error {
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used+n > b.limit && b.used > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fs: waiting for write memory: %w", err)
		}
		b.cond.Wait()
	}
	b.add(n)
	return nil
}

// force takes n bytes without waiting; for the rare copies that must not
// block (truncating a chunk that is being uploaded).
func (b *budget) force(n int64) {
	b.mu.Lock()
	b.add(n)
	b.mu.Unlock()
}

func (b *budget) add(n int64) {
	b.used += n
	b.max = max(b.max, b.used)
}

func (b *budget) peak() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.max
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		panic("fs: internal error: budget released more than acquired")
	}
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// uploader seals chunk versions and puts them into the store with at most
// Uploads requests in flight.
type uploader struct {
	fs       *Vault
	sem      chan struct{}
	pack     *packer      // small versions share objects; nil: never
	bufs     *sealBufs    // buffers to seal objects into
	flat     *flatBufs    // buffers chunk pieces are copied into where one slice is needed
	inflight atomic.Int64 // bytes frozen and not yet uploaded
	queued   atomic.Int64 // bytes ever submitted
	done     atomic.Int64 // bytes ever uploaded (or found to be holes)
	wg       sync.WaitGroup
}

func newUploader(fs *Vault, n int) *uploader {
	u := &uploader{fs: fs, sem: make(chan struct{}, n), bufs: newSealBufs(fs.cs), flat: newFlatBufs(fs.cs)}
	u.pack = newPacker(u, fs.cs, fs.opts.Tuning.PackLinger)
	return u
}

// start uploads v in the background. v must be frozen: its data no longer
// changes. The caller holds v.mu.
func (u *uploader) start(v *version) {
	v.done = make(chan struct{})
	v.err = nil
	u.send(v)
}

// send uploads v in the background, like start, with v.done already set.
// The caller holds v.mu.
func (u *uploader) send(v *version) {
	n := v.data.Len()
	u.inflight.Add(n)
	u.queued.Add(n)
	if u.pack.add(v, n) {
		return
	}
	u.wg.Add(1)
	// A chunk held in pieces is sealed from them, unless its plaintext
	// is to be kept as clean content, or compressed: those need it in one
	// slice.
	pieces := !v.data.isDense() && !v.rewrite && !u.fs.opts.Compress
	go func(buf *chunkBuf, done chan struct{}) {
		defer u.wg.Done()
		u.sem <- struct{}{}
		if pieces {
			u.putPieces(buf, func(ext meta.Extent, staged, shared bool, err error) {
				u.inflight.Add(-n)
				u.finish(v, n, ext, err, done, staged, shared, nil)
			})
			<-u.sem
			return
		}
		// One slice to seal (and to keep as clean content): put is
		// done with it when it returns, as done has been called.
		data, release := u.flat.flatten(buf)
		kept := false
		u.put(data, func(ext meta.Extent, staged, shared bool, err error) {
			u.inflight.Add(-n)
			kept = u.finish(v, n, ext, err, done, staged, shared, data)
		})
		if !kept {
			release()
		}
		<-u.sem
	}(v.data, v.done)
}

// finish records the result of an upload. On success the plaintext is
// dropped and its memory given back, or flat, the bytes sealed, is kept
// as the extent's clean content (it reports whether); on failure the data
// stays so a later publish can retry. A staged object counts as uploaded
// (for Progress) when the stager has put it.
func (u *uploader) finish(v *version, n int64, ext meta.Extent, err error, done chan struct{}, staged, shared bool, flat []byte) bool {
	v.mu.Lock()
	var freed int64
	if err == nil {
		v.ext, v.shared = ext, shared
		if !staged {
			u.done.Add(n)
		}
	} else {
		v.err = err
	}
	var keep []byte
	if err == nil || v.dropped {
		freed = v.charged
		if err == nil && v.rewrite && !v.dropped && !ext.IsHole() {
			keep = flat
		}
		v.data, v.charged = nil, 0
	}
	v.mu.Unlock()
	if keep != nil {
		u.fs.clean.keep(ext, keep, freed)
	} else {
		u.fs.budget.release(freed)
	}
	close(done)
	return keep != nil
}

// put seals data as one object and stores it, then calls done with its
// extent (see store for when). Trailing zeros are not stored (they read
// back as zeros), a chunk of only zeros is a hole that costs nothing in
// the bucket, and a short object is padded (padTail) so its size does not
// reveal the file's. The object's id is its content id (dedup.go): if the
// store has it already, nothing is uploaded and done says shared.
func (u *uploader) put(data []byte, done func(ext meta.Extent, staged, shared bool, err error)) {
	full := int64(len(data))
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		done(meta.Extent{}, false, false, nil)
		return
	}
	plain, room := data, full
	var stored uint32
	if u.fs.opts.Compress {
		if z := compressChunk(data, u.fs.cs); z != nil {
			plain, room, stored = z, int64(len(z)), uint32(len(z))
		}
	}
	plain = padTail(plain, room, u.fs.cs)
	// The id is the content id of the bytes sealed: a compressed chunk's
	// padded frame (compress.go), so different sealed bytes never share
	// an id.
	id := crypt.ContentObjectID(u.fs.opts.Keys, plain)
	ext := meta.Extent{Object: id, ObjectSize: uint32(len(plain)), Length: uint32(len(data)), Stored: stored}
	u.putContent(ext, flatPlain(plain), full, done)
}

// putPieces is put for a chunk buffer held in pieces, without copying
// them into one buffer first (piecesPlain). Not for a compressed vault
// (compression reads the chunk in one slice), nor for a chunk whose
// plaintext is kept as clean content (finish keeps that slice).
func (u *uploader) putPieces(b *chunkBuf, done func(ext meta.Extent, staged, shared bool, err error)) {
	full, n := b.Len(), b.trimmedLen()
	if n == 0 {
		done(meta.Extent{}, false, false, nil)
		return
	}
	plain := &piecesPlain{b: b, n: paddedSize(n, u.fs.cs), scratch: make([]byte, crypt.SegmentSize)}
	id := crypt.ContentObjectIDSegments(u.fs.opts.Keys, plain.n, plain.segment)
	ext := meta.Extent{Object: id, ObjectSize: uint32(plain.n), Length: uint32(n)}
	u.putContent(ext, plain, full, done)
}

// putContent stores plain, which ext names (its content id), unless the
// store has it already (dedup.go); see put.
func (u *uploader) putContent(ext meta.Extent, plain plainSource, full int64, done func(ext meta.Extent, staged, shared bool, err error)) {
	id := ext.Object
	d := u.fs.dedup
	for {
		hit, wait := d.lookup(id)
		if wait != nil {
			<-wait.done // the same content, being stored for another version
			hit = wait.err == nil
		}
		if hit {
			d.hit(full)
			done(ext, false, true, nil)
			return
		}
		if wait == nil {
			break // this version stores it
		}
		// That store failed: look again, and store it here if nobody does.
	}
	u.storeAs(id, plain, full, func(id crypt.ObjectID, staged bool, err error) {
		d.landed(id, err)
		if err != nil {
			ext = meta.Extent{}
		}
		done(ext, staged, false, err)
	})
}

// store seals plain as a new object under a random id and stores it, calling done exactly
// once: when it is in the store, or (staged true) when it is sealed on
// local disk and the stager owns its upload, or with the error. It returns
// when its own upload attempt has ended, which may be after done.
//
// With a staging area the object is uploaded straight from memory while
// the store answers: staging every object cost a disk write and read-back
// per object (22 % of the CPU of a sequential write, 44 % of a small-file
// write) for a copy that is only needed when the bucket is not there. It is
// written to local disk when that upload fails, when uploads are already
// failing, or when the upload is still running after Tuning.StageAfter: then the
// version is safe on this device (the intent log can name it, a crash
// loses nothing) while the upload goes on, and the stager uploads it only
// if that attempt fails. Only when the stage is full or fails does an
// object wait in memory, retried from here. plainLen is the plaintext
// bytes it stands for (Progress counts those).
func (u *uploader) store(plain []byte, plainLen int64, done func(id crypt.ObjectID, staged bool, err error)) {
	id, err := crypt.NewObjectID(u.fs.opts.Rand)
	if err != nil {
		done(id, false, fmt.Errorf("fs: new object id: %w", err))
		return
	}
	u.storeAs(id, flatPlain(plain), plainLen, done)
}

// storeAs is store with the object's id chosen by the caller: a fresh
// random one, or the content id of plain (dedup.go).
func (u *uploader) storeAs(id crypt.ObjectID, plain plainSource, plainLen int64, done func(id crypt.ObjectID, staged bool, err error)) {
	// The sealed buffer is given back when storeAs returns: every exit
	// below first waits for the put goroutine's result, stage and hold
	// write it to local disk before they return, and done is given the id
	// only. See sealBufs and putDoneOnReturn for when it is pooled.
	sealed, release, err := u.bufs.seal(u.fs.opts.Keys, id, plain, putDoneOnReturn(u.fs.opts.Store))
	if err != nil {
		done(id, false, fmt.Errorf("fs: seal object %s: %w", id, err))
		return
	}
	defer release()
	key := layout.DataKey(id)
	put := func(ctx context.Context) error {
		// Unconditional: a retry after a put that landed rewrites the
		// same bytes under a key nobody else can know.
		_, err := u.fs.opts.Store.Put(ctx, key, sealed, remote.PutOptions{})
		return err
	}
	// With a staging area, one attempt from memory: if it fails, staging
	// the object and sending it from there (persistently) is the retry.
	once := remote.WithCallRetry(u.fs.ctx, remote.CallRetry{MaxAttempts: 1})
	s := u.fs.stage
	if s != nil && !s.failing.Load() {
		ctx, cancel := context.WithTimeout(once, u.fs.opts.Tuning.DirectPutTimeout)
		defer cancel()
		result := make(chan error, 1)
		go func() { result <- put(ctx) }()
		timer := time.NewTimer(u.fs.opts.Tuning.StageAfter)
		defer timer.Stop()
		select {
		case err = <-result:
		case <-timer.C:
			if !s.hold(id, sealed, plainLen) {
				err = <-result // no room on disk: wait for this attempt
				break
			}
			done(id, true, nil)
			if err := <-result; err != nil {
				s.uploadFailed(id, err)
				s.enqueue(id)
			} else {
				s.uploadedDirectly(id)
			}
			return
		}
		if err == nil {
			s.progress.Store(time.Now().UnixNano())
			done(id, false, nil)
			return
		}
		s.uploadFailed(id, err)
	}
	if s != nil && s.stage(id, sealed, plainLen) {
		done(id, true, nil)
		return
	}
	// No room on local disk: the object waits here, in memory, and is
	// sent until the store takes it or the vault closes.
	err = put(remote.WithCallRetry(u.fs.ctx, remote.CallRetry{Persist: true,
		AttemptTimeout: u.fs.opts.Tuning.DirectPutTimeout, MaxDelay: u.fs.opts.Tuning.UploadBackoffMax}))
	if err != nil {
		u.fs.log.Error("upload failed", "object", id.String(), "err", err)
		done(id, false, fmt.Errorf("fs: upload object %s: %w", id, err))
		return
	}
	if s != nil {
		s.progress.Store(time.Now().UnixNano())
		s.failing.Store(false)
	}
	done(id, false, nil)
}

// paddedSize is the plaintext size of an object holding n bytes of
// content, at most a chunk: min(Padmé(n), chunk) (docs/FORMAT.md, "Tail
// padding"). Every object fs seals has this size: a file's chunk, its
// short last chunk, a small file, a pack of them.
func paddedSize(n, chunk int64) int64 {
	if n > chunk {
		panic(fmt.Sprintf("fs: internal error: object content of %d bytes is over the chunk size %d", n, chunk))
	}
	return min(crypt.PaddedSize(n), chunk)
}

// padTail zero-pads the plaintext of an object shorter than a chunk to
// paddedSize, so that the sealed size of a file's last chunk, or of a
// small file, shows only O(log log n) bits of its length; the true length
// stays in the sealed extent (Length below ObjectSize). data is a prefix
// of a chunk buffer of full bytes whose tail past data is zeros, so the
// padding is usually already there.
func padTail(data []byte, full, chunk int64) []byte {
	n := int64(len(data))
	size := paddedSize(n, chunk)
	switch {
	case size == n:
		return data
	case size <= full:
		return data[:size]
	}
	padded := make([]byte, size)
	copy(padded, data)
	return padded
}
