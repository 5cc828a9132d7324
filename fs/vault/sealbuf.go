package vault

import (
	"sync"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// sealBufs recycles the buffers that uploads seal objects into: a fresh
// multi-MiB buffer per object is zeroed by the runtime and page-faulted in
// (docs/PERFORMANCE.md). The buffers hold sealed bytes only, never
// plaintext. Each has room for a sealed full chunk; an object whose sealed
// size is at most half of that gets a fresh buffer, so a pooled buffer is
// always at least half used. The pool empties itself over garbage
// collections, so idle mounts keep nothing.
type sealBufs struct {
	size int // the sealed size of a full chunk
	pool sync.Pool
}

func newSealBufs(chunk int64) *sealBufs {
	b := &sealBufs{size: int(crypt.ObjectCipherSize(chunk))}
	b.pool.New = func() any {
		buf := make([]byte, 0, b.size)
		return &buf
	}
	return b
}

// plainSource is the plaintext of an object to seal: one slice
// (flatPlain), or a chunk buffer's pieces (piecesPlain).
type plainSource interface {
	Len() int64
	appendSeal(dst []byte, k *crypt.Keys, id crypt.ObjectID) ([]byte, error)
}

// flatPlain is a plaintext in one slice.
type flatPlain []byte

func (p flatPlain) Len() int64 { return int64(len(p)) }

func (p flatPlain) appendSeal(dst []byte, k *crypt.Keys, id crypt.ObjectID) ([]byte, error) {
	return crypt.AppendSealObject(dst, k, id, p)
}

// piecesPlain is the plaintext of an object made of bytes [0, n) of a
// chunk buffer held in pieces (zeros past the buffer's length), handed to
// the content id and the seal one segment at a time: a segment inside one
// piece is that piece's memory, others are gathered into scratch. It
// spares the copy of the whole chunk into one buffer that a contiguous
// plaintext needs.
type piecesPlain struct {
	b       *chunkBuf
	n       int64
	scratch []byte // crypt.SegmentSize bytes
}

func (p *piecesPlain) Len() int64 { return p.n }

func (p *piecesPlain) segment(i int64) []byte {
	off := i * crypt.SegmentSize
	end := min(off+crypt.SegmentSize, p.n)
	if s := p.b.span(off, end); s != nil {
		return s
	}
	d := p.scratch[:end-off]
	k := p.b.readAt(d, off)
	clear(d[k:])
	return d
}

func (p *piecesPlain) appendSeal(dst []byte, k *crypt.Keys, id crypt.ObjectID) ([]byte, error) {
	return crypt.AppendSealObjectSegments(dst, k, id, p.n, p.segment)
}

// seal seals plain as object id, into a pooled buffer if pooled. Once
// nothing reads sealed any more, the caller must call release, and must
// not touch sealed afterwards.
func (b *sealBufs) seal(k *crypt.Keys, id crypt.ObjectID, plain plainSource, pooled bool) (sealed []byte, release func(), err error) {
	if !pooled || crypt.ObjectCipherSize(plain.Len()) <= int64(b.size/2) {
		sealed, err = plain.appendSeal(nil, k, id)
		return sealed, func() {}, err
	}
	buf := b.pool.Get().(*[]byte)
	sealed, err = plain.appendSeal((*buf)[:0], k, id)
	if err != nil {
		b.pool.Put(buf)
		return nil, nil, err
	}
	if cap(sealed) != b.size { // grown past a full chunk: cannot happen for objects of at most a chunk
		b.pool.Put(buf)
		return sealed, func() {}, nil
	}
	return sealed, func() { b.pool.Put(buf) }, nil
}

// putDoneOnReturn reports whether every Put of s is done with its data
// when it returns, so that a sealed buffer may be reused once the Put
// has returned. It holds for the stores that write or copy the data
// before they return (the directory store, the memory store), for the S3
// store, which lends a Put's bytes to net/http only until it returns
// (net/http may read a request body after RoundTrip returned; a read
// after that fails: remote.TestS3PutLendsItsBuffer), and behind wrappers
// that call the wrapped Put synchronously. Until December 2026 an upload
// to S3 sealed into a fresh buffer, which the runtime zeroed and the
// kernel faulted in (docs/PERFORMANCE.md, "Read buffers used again").
// Any store not known here is assumed not to keep the promise.
func putDoneOnReturn(s remote.Store) bool {
	for {
		switch t := s.(type) {
		case *remote.Dir, *remote.Memory, *remote.S3:
			return true
		case *stagedStore:
			s = t.Store
		case *remote.Logging:
			s = t.Store
		case *remote.Retry:
			s = t.Store
		case *remote.SingleWriter:
			s = t.Store
		case interface{ putDoneOnReturn() bool }: // tests
			return t.putDoneOnReturn()
		default:
			return false
		}
	}
}
