package meta

import (
	"encoding/binary"
	"math"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
)

// batchVersion is the first byte of every encoded batch and snapshot. A
// change of the encoding bumps it; old versions stay readable.
const batchVersion = 1

// batch is the payload of a journal batch or a snapshot record (before
// compression and sealing):
//
//	version(1) || kind(1) || uvarint seq || prev(32) || uvarint nops || ops
//
// kind is crypt.KindJournal or crypt.KindSnapshot; prev is the SHA-256 of
// the previous sealed batch or snapshot of the chain (all zero in a
// snapshot). Each op is one kind byte followed by its fields (see encodeOp
// and docs/FORMAT.md). Integers are minimal varints (zigzag for times);
// strings are uvarint length || bytes.
type batch struct {
	kind crypt.RecordKind
	seq  uint64
	prev [32]byte
	ops  []*op
}

// encodeBatch appends the encoding of b to dst.
func encodeBatch(dst []byte, b *batch) []byte {
	dst = append(dst, batchVersion, byte(b.kind))
	dst = binary.AppendUvarint(dst, b.seq)
	dst = append(dst, b.prev[:]...)
	dst = binary.AppendUvarint(dst, uint64(len(b.ops)))
	for _, o := range b.ops {
		dst = encodeOp(dst, o)
	}
	return dst
}

func encodeOp(dst []byte, o *op) []byte {
	dst = append(dst, byte(o.kind))
	switch o.kind {
	case opInode:
		a := &o.attr
		dst = appendUvarints(dst, uint64(o.ino), uint64(a.Mode), uint64(a.Uid), uint64(a.Gid), a.Size, uint64(a.Nlink))
		dst = binary.AppendVarint(dst, a.Atime)
		dst = binary.AppendVarint(dst, a.Mtime)
		dst = binary.AppendVarint(dst, a.Ctime)
		dst = appendString(dst, o.target)
	case opLink:
		dst = binary.AppendUvarint(dst, uint64(o.parent))
		dst = appendString(dst, o.name)
		dst = binary.AppendUvarint(dst, uint64(o.ino))
	case opUnlink:
		dst = binary.AppendUvarint(dst, uint64(o.parent))
		dst = appendString(dst, o.name)
	case opDrop:
		dst = binary.AppendUvarint(dst, uint64(o.ino))
	case opSetXattr:
		dst = binary.AppendUvarint(dst, uint64(o.ino))
		dst = appendString(dst, o.name)
		dst = appendString(dst, string(o.value))
	case opRemoveXattr:
		dst = binary.AppendUvarint(dst, uint64(o.ino))
		dst = appendString(dst, o.name)
	case opExtents:
		dst = appendUvarints(dst, uint64(o.ino), o.nExt, uint64(len(o.sets)))
		for _, s := range o.sets {
			dst = binary.AppendUvarint(dst, s.Index)
			dst = append(dst, s.Object[:]...)
			dst = appendUvarints(dst, uint64(s.ObjectSize), uint64(s.Offset), uint64(s.Length))
		}
	default:
		panic("meta: internal error: encoding unknown op")
	}
	return dst
}

func appendUvarints(dst []byte, vs ...uint64) []byte {
	for _, v := range vs {
		dst = binary.AppendUvarint(dst, v)
	}
	return dst
}

func appendVarint(dst []byte, v int64) []byte { return binary.AppendVarint(dst, v) }

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeBatch parses an encoded batch strictly: any unknown op, value out of
// range, non-minimal varint or trailing byte is an error wrapping
// errCorrupt, so accepted input re-encodes to exactly the same bytes.
func decodeBatch(data []byte) (*batch, error) {
	r := &reader{buf: data}
	if v := r.byte(); v != batchVersion {
		return nil, corrupt("batch version %d", v)
	}
	b := &batch{kind: crypt.RecordKind(r.byte()), seq: r.uvarint()}
	if b.kind != crypt.KindJournal && b.kind != crypt.KindSnapshot {
		return nil, corrupt("batch kind %d", b.kind)
	}
	copy(b.prev[:], r.bytes(32))
	if b.kind == crypt.KindSnapshot && b.prev != [32]byte{} {
		return nil, corrupt("snapshot with a previous hash")
	}
	n := r.count(2)
	b.ops = make([]*op, 0, n)
	for range n {
		if r.err != nil {
			break
		}
		b.ops = append(b.ops, r.op())
	}
	if r.err == nil && r.pos != len(r.buf) {
		r.fail("%d trailing bytes", len(r.buf)-r.pos)
	}
	if r.err != nil {
		return nil, r.err
	}
	return b, nil
}

// reader decodes with a sticky error: after the first failure every read
// returns zero values.
type reader struct {
	buf []byte
	pos int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = corrupt("at byte %d: "+format, append([]any{r.pos}, args...)...)
	}
}

func (r *reader) byte() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.pos {
		r.fail("truncated")
		return nil
	}
	b := r.buf[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.pos:])
	if n <= 0 || n != uvarintLen(v) {
		r.fail("bad uvarint")
		return 0
	}
	r.pos += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf[r.pos:])
	if n <= 0 || n != len(binary.AppendVarint(nil, v)) {
		r.fail("bad varint")
		return 0
	}
	r.pos += n
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// u32 reads a uvarint that must fit 32 bits.
func (r *reader) u32() uint32 {
	v := r.uvarint()
	if v > math.MaxUint32 {
		r.fail("value %d out of range", v)
		return 0
	}
	return uint32(v)
}

// ino reads a non-zero inode number.
func (r *reader) ino() Ino {
	v := r.uvarint()
	if v == 0 && r.err == nil {
		r.fail("inode 0")
	}
	return Ino(v)
}

// count reads a count of items of at least minSize bytes each, so a forged
// count cannot make the decoder allocate more than the input justifies.
func (r *reader) count(minSize int) int {
	v := r.uvarint()
	if v > uint64(len(r.buf)-r.pos)/uint64(minSize) {
		r.fail("count %d exceeds the input", v)
		return 0
	}
	return int(v)
}

func (r *reader) string(maxLen int) string {
	n := r.uvarint()
	if n > uint64(maxLen) {
		r.fail("string of %d bytes", n)
		return ""
	}
	return string(r.bytes(int(n)))
}

func (r *reader) name() string {
	s := r.string(MaxNameLen)
	if r.err == nil && checkName(s) != nil {
		r.fail("bad name")
	}
	return s
}

func (r *reader) xattrName() string {
	s := r.string(MaxXattrNameLen)
	if r.err == nil && s == "" {
		r.fail("empty xattr name")
	}
	return s
}

func (r *reader) op() *op {
	o := &op{kind: opKind(r.byte())}
	switch o.kind {
	case opInode:
		r.inode(o)
	case opLink:
		o.parent, o.name, o.ino = r.ino(), r.name(), r.ino()
	case opUnlink:
		o.parent, o.name = r.ino(), r.name()
	case opDrop:
		o.ino = r.ino()
	case opSetXattr:
		o.ino, o.name = r.ino(), r.xattrName()
		o.value = []byte(r.string(MaxXattrValueLen))
	case opRemoveXattr:
		o.ino, o.name = r.ino(), r.xattrName()
	case opExtents:
		r.extents(o)
	default:
		r.fail("unknown op %d", o.kind)
	}
	return o
}

func (r *reader) inode(o *op) {
	o.ino = r.ino()
	a := &o.attr
	a.Mode, a.Uid, a.Gid, a.Size, a.Nlink = r.u32(), r.u32(), r.u32(), r.uvarint(), r.u32()
	a.Atime, a.Mtime, a.Ctime = r.varint(), r.varint(), r.varint()
	o.target = r.string(MaxSymlinkLen)
	if r.err != nil {
		return
	}
	typ := a.Mode & syscall.S_IFMT
	switch {
	case a.Mode&^(syscall.S_IFMT|0o7777) != 0 || typ != syscall.S_IFREG && typ != syscall.S_IFDIR && typ != syscall.S_IFLNK:
		r.fail("mode %o", a.Mode)
	case (typ == syscall.S_IFLNK) != (o.target != ""):
		r.fail("symlink target on mode %o", a.Mode)
	case a.Size > MaxFileSize || typ == syscall.S_IFLNK && a.Size != uint64(len(o.target)):
		r.fail("size %d", a.Size)
	}
}

// extentSize is the fewest bytes one encoded extent takes.
const extentSize = 1 + 16 + 3

func (r *reader) extents(o *op) {
	o.ino, o.nExt = r.ino(), r.uvarint()
	n := r.count(extentSize)
	o.sets = make([]indexedExtent, 0, n)
	for i := range n {
		var s indexedExtent
		s.Index = r.uvarint()
		copy(s.Object[:], r.bytes(16))
		s.ObjectSize, s.Offset, s.Length = r.u32(), r.u32(), r.u32()
		if r.err != nil {
			return
		}
		if s.Index >= o.nExt || i > 0 && s.Index <= o.sets[i-1].Index || checkExtent(s.Extent, crypt.MaxObjectSize) != nil {
			r.fail("extent %d", s.Index)
			return
		}
		o.sets = append(o.sets, s)
	}
}
