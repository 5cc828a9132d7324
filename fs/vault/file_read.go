package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// ReadError is a failed read of one object of a file: it did not
// authenticate, is missing, or the store did not answer.
type ReadError struct {
	Ino    meta.Ino
	Object crypt.ObjectID
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("vault: read object %s of inode %d: %v", e.Object, e.Ino, e.Err)
}
func (e *ReadError) Unwrap() error { return e.Err }

func (fs *Vault) objectError(ino meta.Ino, id crypt.ObjectID, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &ReadError{Ino: ino, Object: id, Err: err}
}

// ReportRead logs a failed read (a *ReadError) once per object, with the
// object id and the file's path (path is called only then; the front door
// knows the name the file was opened by). Other errors are not logged.
func (fs *Vault) ReportRead(err error, path func() string) {
	var oe *ReadError
	if !errors.As(err, &oe) {
		return
	}
	if _, seen := fs.badObj.LoadOrStore(oe.Object, struct{}{}); seen {
		return
	}
	fs.log.Error("cannot read file data", LogPath, path(), "inode", uint64(oe.Ino),
		"object", oe.Object.String(), "err", oe.Err)
}

// piece is a part of a read served from published data: chunk bytes
// [off, off+n) of ext, going to dst (nil for read-ahead).
type piece struct {
	dst    []byte
	ext    meta.Extent
	off, n int64
	whole  bool // a read of the file's start: fetch the rest of the extent with it
}

// read fills dest from offset off of h's file and returns the bytes read
// (short only at the end of the file). Unpublished writes are seen.
func (fs *Vault) read(ctx context.Context, h *File, dest []byte, off int64) (int, error) {
	f := h.f
	var size, end int64
	var pieces []piece
	start := false // a read of the file's start that fetches it
	for attempt := 0; ; attempt++ {
		f.mu.Lock()
		size = f.size
		gen, layout := f.gen, f.layout
		if off >= size {
			f.mu.Unlock()
			return 0, nil
		}
		end = min(off+int64(len(dest)), size)
		pieces = f.resolveLocked(dest[:end-off], off, end-off)
		f.mu.Unlock()
		if off == 0 && len(pieces) > 0 && pieces[0].off == 0 {
			// A file read from its start (cp, tar, a gallery) is most
			// likely read whole: its first chunk in one GET, not in
			// one per kernel read-ahead request.
			pieces[0].whole = true
			start = true
		}
		err := fs.fetchPieces(ctx, f.ino, pieces)
		if err == nil {
			break
		}
		f.mu.Lock()
		changed := f.gen != gen || f.layout != layout
		f.mu.Unlock()
		if !changed || attempt == 7 {
			return 0, err
		}
		// A write or a merge came meanwhile: it may have replaced a
		// parked chunk this read was reading, whose objects are then
		// removed from the staging area (park.go). Read again what is
		// there now.
	}
	if start {
		fs.folderReadAhead(h)
	}
	if fs.readAhead(h, off, end, size) {
		// A sequential reader is done with what it read: let the cache
		// drop that before read-ahead it has not read yet.
		for _, p := range pieces {
			fs.consumed(p)
		}
	}
	return int(end - off), nil
}

// resolveLocked fills the parts of file bytes [off, off+size) that are in
// memory or zeros into dst, and returns the pieces to fetch. With dst nil
// it only collects the pieces (for read-ahead).
func (f *file) resolveLocked(dst []byte, off, size int64) []piece {
	var pieces []piece
	cs := f.fs.cs
	for done := int64(0); done < size; {
		pos := off + done
		ci, co := pos/cs, pos%cs
		n := min(size-done, cs-co)
		var d []byte
		if dst != nil {
			d = dst[done : done+n]
		}
		if v := f.chunks[ci]; v != nil && len(v.patches) > 0 {
			pieces = v.resolvePatchedLocked(d, co, n, pieces)
			done += n
			continue
		}
		src, ext, valid := f.chunkSourceLocked(ci)
		switch {
		case src != nil || ext.IsHole() || co >= valid:
			k := 0
			if src != nil {
				k = src.readAt(d, co)
			}
			clear(d[k:])
		default:
			pieces = append(pieces, piece{dst: d, ext: ext, off: co, n: n})
		}
		done += n
	}
	return pieces
}

// fetchPieces reads published pieces, in parallel when there are several.
func (fs *Vault) fetchPieces(ctx context.Context, ino meta.Ino, pieces []piece) error {
	if len(pieces) == 1 {
		p := pieces[0]
		if err := fs.readExtent(ctx, p.ext, p.off, p.dst, p.whole); err != nil {
			return fs.objectError(ino, p.ext.Object, err)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pieces))
	for i, p := range pieces {
		wg.Go(func() {
			if err := fs.readExtent(ctx, p.ext, p.off, p.dst, p.whole); err != nil {
				errs[i] = fs.objectError(ino, p.ext.Object, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readExtent fills dst with chunk bytes [off, off+len(dst)) of extent e:
// bytes past e.Length are zeros, the rest comes from the object's
// segments, through the cache. With whole, the request that fetches them
// also fetches the rest of the extent, for the reader's next reads.
func (fs *Vault) readExtent(ctx context.Context, e meta.Extent, off int64, dst []byte, whole bool) error {
	if e.IsHole() || off >= int64(e.Length) {
		clear(dst)
		return nil
	}
	if fs.clean.read(e, off, dst[:min(int64(len(dst)), int64(e.Length)-off)]) {
		clear(dst[min(int64(len(dst)), int64(e.Length)-off):])
		return nil // a chunk this mount just rewrote: no download
	}
	if e.Compressed() {
		return fs.readCompressed(ctx, e, off, dst)
	}
	if int64(e.Offset)+int64(e.Length) > int64(e.ObjectSize) || e.ObjectSize > crypt.MaxObjectSize {
		return fmt.Errorf("extent [%d,+%d) of a %d-byte object: %w", e.Offset, e.Length, e.ObjectSize, ErrCorrupt)
	}
	n := min(int64(len(dst)), int64(e.Length)-off)
	clear(dst[n:])
	objOff := int64(e.Offset) + off
	first := objOff / crypt.SegmentSize
	var ahead int64
	if fs.packed(e) {
		ahead = packReadAhead
	}
	if whole {
		last := (objOff + n - 1) / crypt.SegmentSize
		ahead = max(ahead, (int64(e.Offset)+int64(e.Length)-1)/crypt.SegmentSize-last)
	}
	entries, segs, err := fs.segments(ctx, e.Object, int64(e.ObjectSize), first, (objOff+n-1)/crypt.SegmentSize, ahead)
	defer fs.cache.release(entries...)
	if err != nil {
		return err
	}
	for i, s := range segs {
		segStart := (first + int64(i)) * crypt.SegmentSize
		lo := max(objOff, segStart)
		hi := min(objOff+n, segStart+int64(len(s)))
		if hi <= lo {
			return fmt.Errorf("segment %d is short: %w", segStart/crypt.SegmentSize, ErrCorrupt)
		}
		copy(dst[lo-objOff:hi-objOff], s[lo-segStart:hi-segStart])
	}
	return nil
}

// segments returns plaintext segments [first, last] of object id, from the
// cache or fetched by one range request per run of missing segments, and
// their cache entries, pinned: the caller must release the entries (also
// after an error) once it has copied the data out. When the last run ends
// at last, the same request also fetches up to ahead following segments
// that are not cached, for later readers.
func (fs *Vault) segments(ctx context.Context, id crypt.ObjectID, objSize, first, last, ahead int64) ([]*segEntry, [][]byte, error) {
	entries := make([]*segEntry, last-first+1)
	var run []*segEntry // missing segments we own, contiguous
	flush := func() {
		if len(run) > 0 {
			fs.fetchRun(ctx, id, objSize, run)
			run = nil
		}
	}
	for s := first; s <= last; s++ {
		e, owner := fs.cache.lookup(segKey{id, s})
		entries[s-first] = e
		if owner {
			run = append(run, e)
		} else {
			flush()
		}
	}
	if len(run) > 0 {
		nsegs := (objSize + crypt.SegmentSize - 1) / crypt.SegmentSize
		for s := last + 1; s <= last+ahead && s < nsegs; s++ {
			e := fs.cache.reserve(segKey{id, s})
			if e == nil {
				break
			}
			run = append(run, e)
		}
	}
	flush()
	out := make([][]byte, len(entries))
	for i, e := range entries {
		data, err := e.wait(ctx)
		if err != nil {
			return entries, nil, err
		}
		out[i] = data
	}
	return entries, out, nil
}

// packed reports whether more than the padding of an object that ends
// with extent e follows it: a pack, whose next files were most likely
// written, and are read, together.
func (fs *Vault) packed(e meta.Extent) bool {
	end := int64(e.Offset) + int64(e.Length)
	return int64(e.ObjectSize) > min(crypt.PaddedSize(end), max(end, fs.cs))
}

// packReadAhead is how many segments (512 KiB) past a packed small file a
// cold read of it fetches in the same request: the files packed after it,
// which a restore or a gallery reads next. Without it a folder of 16 KiB
// files took one GET per 64 KiB segment, four files.
const packReadAhead = 8

// fetchRun gets a contiguous run of segments with one range request,
// verifies them and fills their cache entries.
func (fs *Vault) fetchRun(ctx context.Context, id crypt.ObjectID, objSize int64, run []*segEntry) {
	first := run[0].key.seg
	off := first * crypt.SegmentSize
	n := min(int64(len(run))*crypt.SegmentSize, objSize-off)
	segs, buf, err := fs.getSegments(ctx, id, objSize, off, n)
	for i, e := range run {
		switch {
		case err != nil:
			fs.cache.fill(e, nil, nil, err)
		case i >= len(segs):
			fs.cache.fill(e, nil, nil, fmt.Errorf("segment %d missing: %w", e.key.seg, ErrCorrupt))
		default:
			fs.cache.fill(e, segs[i], buf, nil)
		}
	}
	if buf != nil {
		fs.cache.fetched(buf)
	}
}

// getSegments fetches the segments holding object bytes [off, off+n) with
// one range request into a buffer of the cache (cache.getBuf) and returns
// their plaintext, one slice per segment, decrypted in place in that
// buffer's blocks, and the buffer: the caller fills cache entries with the
// segments or copies them out, then calls fs.cache.fetched(buf).
//
// Segments are decrypted a few at a time as they arrive, while they are
// still in the CPU cache: decrypting a 4 MiB response after it has all
// arrived reads it back from memory (measured: 1.5x the CPU).
func (fs *Vault) getSegments(ctx context.Context, id crypt.ObjectID, objSize, off, n int64) ([][]byte, *segBuf, error) {
	if n <= 0 {
		return nil, nil, fmt.Errorf("read past the end of a %d-byte object: %w", objSize, ErrCorrupt)
	}
	cOff, cLen, firstSeg := crypt.SegmentSpan(objSize, off, n)
	op, err := crypt.NewSegmentOpener(fs.opts.Keys, id, objSize)
	if err != nil {
		return nil, nil, fmt.Errorf("object %s: %w", id, err)
	}
	select {
	case fs.gets <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	buf := fs.cache.getBuf(cLen)
	segs := make([][]byte, 0, (cLen+cipherSeg-1)/cipherSeg)
	for attempt := 1; ; attempt++ {
		segs, err = readOpen(ctx, fs.opts.Store, op, id, cOff, firstSeg, buf.blocks, segs[:0])
		var broke *bodyError
		if !errors.As(err, &broke) || !remote.IsTransient(err) || attempt == bodyRetries || ctx.Err() != nil {
			break
		}
	}
	<-fs.gets
	if err != nil {
		fs.cache.fetched(buf)
		return nil, nil, err
	}
	return segs, buf, nil
}

// readAhead detects sequential reads on h and fetches the segments after
// end into the cache in the background, with a window that doubles on
// every sequential read up to maxReadAhead. The kernel issues its own
// read-ahead requests in parallel, so a read that starts near where the
// last one ended (either side) still counts as sequential. It reports
// whether the read was sequential.
func (fs *Vault) readAhead(h *File, off, end, size int64) bool {
	h.mu.Lock()
	if d := off - h.next; d >= -2*MaxWrite && d <= 2*MaxWrite {
		h.window = min(max(2*h.window, 2*(end-off)), fs.maxReadAhead())
	} else {
		h.window = 0
	}
	h.next = max(h.next, end)
	if h.window == 0 {
		h.next, h.ahead = end, end
	}
	// Issue only what was not issued before, in whole MiB steps while the
	// window is small and in whole chunks once it holds one, so that each
	// range request is large (a chunk is one object: one GET).
	step := int64(MaxWrite)
	if h.window >= fs.cs {
		step = fs.cs
	}
	from := max(end, h.ahead)
	to := min((end+h.window+step-1)/step*step, size)
	seq := h.window > 0
	if !seq || to-from < step && to < size || from >= to {
		h.mu.Unlock()
		return seq
	}
	h.ahead = to
	h.mu.Unlock()
	f := h.f
	f.mu.Lock()
	pieces := f.resolveLocked(nil, from, to-from)
	f.mu.Unlock()
	for _, p := range pieces {
		fs.prefetch(p)
	}
	return true
}

// consumed marks the segments that a sequential read of piece p reached
// the end of as least recently used (the reader read their beginnings
// before, or in this read).
func (fs *Vault) consumed(p piece) {
	n := min(p.n, int64(p.ext.Length)-p.off)
	if n <= 0 || p.ext.Compressed() {
		return // a compressed chunk is read whole and kept decompressed
	}
	lo := int64(p.ext.Offset) + p.off
	hi := lo + n
	first, end := lo/crypt.SegmentSize, hi/crypt.SegmentSize
	if hi == int64(p.ext.ObjectSize) {
		end = (hi + crypt.SegmentSize - 1) / crypt.SegmentSize // the short last segment
	}
	for s := first; s < end; s++ {
		fs.cache.demote(segKey{p.ext.Object, s})
	}
}

// prefetch starts background fetches of a piece's segments that are not
// cached, one range request per run of missing segments (a piece is
// within one chunk, so at most one request per chunk).
func (fs *Vault) prefetch(p piece) {
	if p.off >= int64(p.ext.Length) || fs.clean.has(p.ext) {
		return
	}
	n := min(p.n, int64(p.ext.Length)-p.off)
	objOff := int64(p.ext.Offset) + p.off
	if p.ext.Compressed() {
		// The whole frame: a compressed chunk is read whole.
		objOff, n = int64(p.ext.Offset), int64(p.ext.Stored)
	}
	if p.ext.ObjectSize > crypt.MaxObjectSize || objOff+n > int64(p.ext.ObjectSize) {
		return
	}
	first, last := objOff/crypt.SegmentSize, (objOff+n-1)/crypt.SegmentSize
	var run []*segEntry
	start := func() {
		if len(run) > 0 {
			r := run
			fs.bgReads.Go(func() { fs.fetchRun(fs.ctx, p.ext.Object, int64(p.ext.ObjectSize), r) })
			run = nil
		}
	}
	for s := first; s <= last; s++ {
		e := fs.cache.reserve(segKey{p.ext.Object, s})
		if e == nil {
			start()
			continue
		}
		run = append(run, e)
	}
	start()
}

// maxReadAhead is the largest read-ahead window of a handle: eight chunks
// (as many whole-object GETs in flight as the raw ceiling uses), at least
// one chunk, and at most half the read cache, so that read-ahead does not
// evict what the reader has not read yet (the reader demotes what it has
// read, see consumed).
func (fs *Vault) maxReadAhead() int64 {
	return max(fs.cs, min(8*fs.cs, fs.opts.ReadCache/2/fs.cs*fs.cs))
}
