package vault

import (
	"bytes"
	"sync"

	"github.com/sealfs/sealfs/crypt"
)

// pieceSize is what a chunk buffer allocates at a time for chunks of cs
// bytes: a 64th of the chunk (64 KiB, a sealed segment, for the default
// 4 MiB), at least 4 KiB. A writer's block of a 32nd of a chunk
// (Syncthing's 128 KiB) is two pieces at every chunk size.
func pieceSize(cs int64) int64 { return max(cs/64, 4<<10) }

// chunkBuf is the plaintext of one version of a chunk. A writer that
// fills it from its start (an appending or sequential writer, a rewrite
// of published content) gets one contiguous buffer, grown as before
// (growCap): it is sealed as it is, without a copy. A write that would
// leave a gap past that buffer turns it into pieces (pieceSize),
// allocated as they are written, the contiguous part kept as the first
// pieces: a chunk written in scattered blocks (Syncthing's 128 KiB pwrites
// after ftruncate, a download manager's ranges) costs the memory of what
// was written so far, where one contiguous buffer cost the chunk up to its
// furthest write: 20 partial chunks holding 30 MiB took 80 MiB, over the
// write budget, so their versions were parked again and again (issue 20).
// Pieces are sealed from their own memory, one sealed segment at a time
// (piecesPlain), except where one slice is needed (compression, a chunk
// kept as clean content, a park): then they are copied into one (flatBufs).
//
// Bytes [0, Len()) are valid; those not held (past the contiguous buffer,
// in a piece never allocated) read as zeros, and so do the held bytes past
// Len(). A chunkBuf is not safe for concurrent use: a version's buffer is
// written under its file's mu while unfrozen and only read once frozen.
type chunkBuf struct {
	seg   int64    // the piece size (pieceSize)
	chunk int64    // the chunk size
	n     int64    // valid bytes
	dense []byte   // contiguous mode: bytes [0, cap) held (len = cap)
	segs  [][]byte // pieces mode (dense nil): each nil or seg bytes long
	alloc int64    // bytes held: what the buffer is charged
}

// newChunkBuf returns an empty buffer of a chunk of chunk bytes, with
// pieces of seg bytes.
func newChunkBuf(seg, chunk int64) *chunkBuf { return &chunkBuf{seg: seg, chunk: chunk} }

// chunkBufOf returns a buffer holding a copy of p.
func chunkBufOf(seg, chunk int64, p []byte) *chunkBuf {
	b := newChunkBuf(seg, chunk)
	b.writeAt(p, 0)
	return b
}

// adoptChunkBuf returns a buffer holding p without a copy: the caller
// gives p up.
func adoptChunkBuf(seg, chunk int64, p []byte) *chunkBuf {
	p = p[:len(p):len(p)]
	return &chunkBuf{seg: seg, chunk: chunk, n: int64(len(p)), dense: p, alloc: int64(len(p))}
}

// growCap picks a contiguous buffer capacity for n bytes: doubling, in
// whole sealed segments (64 KiB: what a small file has always cost, at
// every chunk size), at most one chunk. A buffer past a quarter chunk is
// most likely a sequential writer's: it gets the whole chunk at once,
// saving copies.
func growCap(old, n, chunk int64) int64 {
	if n >= chunk/4 {
		return chunk
	}
	c := max(2*old, (n+crypt.SegmentSize-1)/crypt.SegmentSize*crypt.SegmentSize)
	return min(max(c, n), chunk)
}

// Len is the number of valid bytes.
func (b *chunkBuf) Len() int64 { return b.n }

// allocated is the memory the buffer holds: what it is charged.
func (b *chunkBuf) allocated() int64 { return b.alloc }

// contiguous reports whether a write starting at off keeps (or makes)
// the buffer one contiguous buffer: it is one (or holds nothing yet) and
// the write starts within it, so it only has to grow.
func (b *chunkBuf) contiguous(off int64) bool {
	if b.segs != nil {
		return false
	}
	return off <= int64(len(b.dense))
}

// missing is the memory a write of [off, end) would allocate.
func (b *chunkBuf) missing(off, end int64) int64 {
	if off >= end {
		return 0
	}
	if b.contiguous(off) {
		if c := int64(len(b.dense)); end > c {
			return growCap(c, end, b.chunk) - c
		}
		return 0
	}
	seg := b.seg
	held := int64(len(b.dense)) / seg // whole pieces the contiguous buffer becomes
	var n int64
	if r := int64(len(b.dense)) % seg; b.segs == nil && r > 0 {
		n += seg - r // its last, partial piece is copied into a whole one
		held++
	}
	for i := off / seg; i*seg < end; i++ {
		if i >= held && (i >= int64(len(b.segs)) || b.segs[i] == nil) {
			n += seg
		}
	}
	return n
}

// segsFor is the memory of the pieces of seg bytes that hold [off, end).
func segsFor(seg, off, end int64) int64 {
	if off >= end {
		return 0
	}
	return ((end+seg-1)/seg - off/seg) * seg
}

// toPieces turns the contiguous buffer into pieces: its whole pieces are
// kept as they are (slices of it), a last partial one is copied.
func (b *chunkBuf) toPieces() {
	if b.segs != nil {
		return
	}
	seg, d := b.seg, b.dense
	whole := int64(len(d)) / seg * seg
	b.segs = make([][]byte, 0, (b.chunk+seg-1)/seg)
	for off := int64(0); off < whole; off += seg {
		b.segs = append(b.segs, d[off:off+seg:off+seg])
	}
	if whole < int64(len(d)) {
		s := make([]byte, seg)
		copy(s, d[whole:])
		b.segs = append(b.segs, s)
		b.alloc += seg - (int64(len(d)) - whole)
	}
	b.dense = nil
}

// writeAt copies p to offset off, allocating what it needs, and extends
// Len to cover it. Bytes between the old Len and off read as zeros.
func (b *chunkBuf) writeAt(p []byte, off int64) {
	end := off + int64(len(p))
	if end <= off {
		return
	}
	if b.contiguous(off) {
		if c := int64(len(b.dense)); end > c {
			nc := growCap(c, end, b.chunk)
			d := make([]byte, nc)
			copy(d, b.dense[:min(b.n, c)])
			b.dense = d
			b.alloc += nc - c
		}
		copy(b.dense[off:], p)
		b.n = max(b.n, end)
		return
	}
	b.toPieces()
	seg := b.seg
	if need := (end + seg - 1) / seg; need > int64(len(b.segs)) {
		b.segs = append(b.segs, make([][]byte, need-int64(len(b.segs)))...)
	}
	for len(p) > 0 {
		i, o := off/seg, off%seg
		s := b.segs[i]
		if s == nil {
			s = make([]byte, seg)
			b.segs[i] = s
			b.alloc += seg
		}
		k := copy(s[o:], p)
		p, off = p[k:], off+int64(k)
	}
	b.n = max(b.n, end)
}

// extend makes Len at least k: the bytes it adds read as zeros.
func (b *chunkBuf) extend(k int64) { b.n = max(b.n, k) }

// readAt copies the valid bytes from offset off into dst and returns how
// many it copied: min(len(dst), Len()-off), or 0 past the end.
func (b *chunkBuf) readAt(dst []byte, off int64) int {
	if off >= b.n {
		return 0
	}
	dst = dst[:min(int64(len(dst)), b.n-off)]
	if b.segs == nil {
		k := 0
		if off < int64(len(b.dense)) {
			k = copy(dst, b.dense[off:])
		}
		clear(dst[k:])
		return len(dst)
	}
	seg := b.seg
	done := 0
	for done < len(dst) {
		i, o := off/seg, off%seg
		var k int
		if i < int64(len(b.segs)) && b.segs[i] != nil {
			k = copy(dst[done:], b.segs[i][o:])
		} else {
			k = int(min(int64(len(dst)-done), seg-o))
			clear(dst[done : done+k])
		}
		done += k
		off += int64(k)
	}
	return done
}

// truncate cuts the buffer to its first k bytes (no-op if it is shorter):
// what was past them reads as zeros if it grows again. What it held stays
// allocated (and charged) until the buffer goes.
func (b *chunkBuf) truncate(k int64) {
	if k >= b.n {
		return
	}
	if b.segs == nil {
		if k < int64(len(b.dense)) {
			clear(b.dense[k:min(b.n, int64(len(b.dense)))])
		}
		b.n = k
		return
	}
	seg := b.seg
	for i := k / seg; i < int64(len(b.segs)) && i*seg < b.n; i++ {
		if s := b.segs[i]; s != nil {
			from := max(k-i*seg, 0)
			clear(s[from:min(seg, b.n-i*seg)])
		}
	}
	b.n = k
}

// clone returns a copy of the buffer's first k bytes (all with k < 0),
// allocating only what it holds of them.
func (b *chunkBuf) clone(k int64) *chunkBuf {
	if k < 0 || k > b.n {
		k = b.n
	}
	if b.segs == nil {
		c := newChunkBuf(b.seg, b.chunk)
		if nc := min(int64(len(b.dense)), (k+b.seg-1)/b.seg*b.seg); nc > 0 {
			c.dense = make([]byte, nc)
			copy(c.dense, b.dense[:min(k, nc)])
			c.alloc = nc
		}
		c.n = k
		return c
	}
	seg := b.seg
	c := &chunkBuf{seg: seg, chunk: b.chunk, n: k, segs: make([][]byte, (k+seg-1)/seg)}
	for i := range c.segs {
		if i >= len(b.segs) {
			break
		}
		if s := b.segs[i]; s != nil {
			ns := make([]byte, seg)
			copy(ns[:min(seg, k-int64(i)*seg)], s)
			c.segs[i] = ns
			c.alloc += seg
		}
	}
	return c
}

// bytes returns the valid bytes in one slice: the contiguous buffer
// itself when it holds them all (then it must not be written to), else
// dst (grown if too small) filled with them.
func (b *chunkBuf) bytes(dst []byte) []byte {
	if b.segs == nil && b.n <= int64(len(b.dense)) {
		return b.dense[:b.n]
	}
	if int64(cap(dst)) < b.n {
		dst = make([]byte, b.n)
	}
	dst = dst[:b.n]
	b.readAt(dst, 0)
	return dst
}

// span returns bytes [off, end) as the memory of the one piece that holds
// them, nil if no single allocated piece does (or the buffer is
// contiguous). Bytes past Len() in a piece are zeros, as everywhere.
func (b *chunkBuf) span(off, end int64) []byte {
	if b.segs == nil {
		return nil
	}
	i := off / b.seg
	if end > (i+1)*b.seg || i >= int64(len(b.segs)) || b.segs[i] == nil {
		return nil
	}
	return b.segs[i][off-i*b.seg : end-i*b.seg]
}

// trimmedLen is Len() without the trailing zeros.
func (b *chunkBuf) trimmedLen() int64 {
	if b.segs == nil {
		return int64(len(bytes.TrimRight(b.dense[:min(b.n, int64(len(b.dense)))], "\x00")))
	}
	for i := (b.n - 1) / b.seg; i >= 0; i-- {
		if i >= int64(len(b.segs)) || b.segs[i] == nil {
			continue
		}
		if t := bytes.TrimRight(b.segs[i][:min(b.seg, b.n-i*b.seg)], "\x00"); len(t) > 0 {
			return i*b.seg + int64(len(t))
		}
	}
	return 0
}

// isDense reports whether the buffer is (still) one contiguous buffer.
func (b *chunkBuf) isDense() bool { return b.segs == nil }

// isContiguous reports whether bytes would return the buffer itself.
func (b *chunkBuf) isContiguous() bool { return b.segs == nil && b.n <= int64(len(b.dense)) }

// flatBufs recycles the contiguous buffers a chunk's pieces are copied
// into where one slice is needed (uploader.send in a compressed vault or
// for a chunk kept as clean content; a park's gather). They hold plaintext
// for the duration of one seal, in memory only; a buffer kept as clean
// content (clean.go) is not given back.
type flatBufs struct {
	size int64
	pool sync.Pool
}

func newFlatBufs(chunk int64) *flatBufs {
	f := &flatBufs{size: chunk}
	f.pool.New = func() any {
		b := make([]byte, 0, chunk)
		return &b
	}
	return f
}

// get returns a slice of n bytes (contents undefined), and the function
// that gives it back once nothing reads it.
func (f *flatBufs) get(n int64) ([]byte, func()) {
	if n > f.size || n < f.size/2 {
		return make([]byte, n), func() {}
	}
	p := f.pool.Get().(*[]byte)
	return (*p)[:n], func() { f.pool.Put(p) }
}

// flatten returns b's bytes in one slice, and the function that gives the
// slice back once nothing reads it (no-op when it is not pooled).
func (f *flatBufs) flatten(b *chunkBuf) ([]byte, func()) {
	if b.isContiguous() || b.n < f.size/2 {
		return b.bytes(nil), func() {}
	}
	p := f.pool.Get().(*[]byte)
	flat := b.bytes((*p)[:0])
	return flat, func() { f.pool.Put(p) }
}
