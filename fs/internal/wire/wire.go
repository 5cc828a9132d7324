// Package wire is the strict decoder shared by sealfs's binary payloads
// (metadata ops and head in fs/meta, the intent log in fs/stage): every
// length is bounded by the input before anything is allocated, varints
// must be minimal, and the first failure is sticky, so a decoder reads on
// without checking each field and reports the first error once.
//
// It decodes only what has already been authenticated; it still never
// panics or over-allocates, whatever the input.
package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Reader decodes buf from the front with a sticky error: after the first
// failure every read returns a zero value.
type Reader struct {
	buf   []byte
	pos   int
	err   error
	mkErr func(msg string) error
}

// NewReader reads buf; mkErr turns a failure message (which starts with
// the byte offset) into the caller's error type.
func NewReader(buf []byte, mkErr func(msg string) error) *Reader {
	return &Reader{buf: buf, mkErr: mkErr}
}

// Err is the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records a failure at the current position (the first one wins).
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = r.mkErr(fmt.Sprintf("at byte %d: ", r.pos) + fmt.Sprintf(format, args...))
	}
}

// Finish fails if input is left over, and returns the first failure.
func (r *Reader) Finish() error {
	if r.err == nil && r.pos != len(r.buf) {
		r.Fail("%d trailing bytes", len(r.buf)-r.pos)
	}
	return r.err
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	b := r.Bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Bytes returns the next n bytes (a slice of the input, not a copy).
func (r *Reader) Bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.pos {
		r.Fail("truncated")
		return nil
	}
	b := r.buf[r.pos : r.pos+n]
	r.pos += n
	return b
}

// Uvarint reads a minimally encoded unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.pos:])
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		r.Fail("bad uvarint")
		return 0
	}
	r.pos += n
	return v
}

// Varint reads a minimally encoded signed varint.
func (r *Reader) Varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf[r.pos:])
	if n <= 0 || n != len(binary.AppendVarint(nil, v)) {
		r.Fail("bad varint")
		return 0
	}
	r.pos += n
	return v
}

// U32 reads a uvarint that must fit 32 bits.
func (r *Reader) U32() uint32 {
	v := r.Uvarint()
	if v > math.MaxUint32 {
		r.Fail("value %d out of range", v)
		return 0
	}
	return uint32(v)
}

// Count reads a count of items of at least minSize bytes each, so a forged
// count cannot make the decoder allocate more than the input justifies.
func (r *Reader) Count(minSize int) int {
	v := r.Uvarint()
	if r.err == nil && v > uint64(len(r.buf)-r.pos)/uint64(minSize) {
		r.Fail("count %d exceeds the input", v)
		return 0
	}
	return int(v)
}

// String reads a uvarint length of at most maxLen and that many bytes.
func (r *Reader) String(maxLen int) string {
	n := r.Uvarint()
	if r.err == nil && n > uint64(maxLen) {
		r.Fail("string of %d bytes", n)
		return ""
	}
	return string(r.Bytes(int(n)))
}
