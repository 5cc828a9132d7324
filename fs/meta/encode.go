package meta

import (
	"encoding/binary"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/wire"
)

// Batch versions: the first byte of every encoded batch and checkpoint. A
// change of the encoding bumps it; old versions stay readable. Writers
// write batchVersion; version 1 is what format-1 vaults hold.
const (
	batchVersion1 = 1
	batchVersion2 = 2
	batchVersion3 = 3
	batchVersion4 = 4
	batchVersion  = batchVersion4
)

// opInode2 is the wire kind of an inode in version-2 batches: opInode's
// fields, then uvarint rdev, for every file type (special files too).
// Decoded, it is an opInode.
const opInode2 opKind = 8

// opExtents3 is the wire kind, in version-3 batches, of an opExtents of
// which at least one extent has a content id: opExtents's fields with the
// 16-byte content id after each extent (zero for a hole or an extent
// without one). Decoded, it is an opExtents.
const opExtents3 opKind = 9

// opExtents4 is the wire kind, in version-4 batches, of an opExtents of
// which at least one extent is compressed: opExtents3's fields with
// uvarint stored (the zstd frame's length in the object, 0 for an extent
// that is not compressed or a hole) after each extent's content id, which
// may then be zero. Decoded, it is an opExtents.
const opExtents4 opKind = 10

// batch is the payload of a journal batch or a checkpoint record (before
// compression and sealing):
//
//	version(1) || kind(1) || uvarint seq || prev(32) ||
//	[version 2 checkpoints: suite(1) || uvarint chunk size] ||
//	uvarint nops || ops
//
// kind is crypt.KindJournal or crypt.KindSnapshot (a checkpoint: the
// whole tree); prev is the SHA-256 of the previous sealed batch or
// checkpoint of the chain (all zero in a checkpoint). A version-2
// checkpoint names the cipher suite and chunk size the tree was written
// with, so that a tree is never read with other parameters than its own.
// Each op is one kind byte followed by its fields (see encodeOp and
// docs/FORMAT.md). Integers are minimal varints (zigzag for times);
// strings are uvarint length || bytes.
type batch struct {
	version byte // 0 = batchVersion
	kind    crypt.RecordKind
	seq     uint64
	prev    [32]byte
	suite   crypt.Suite // version-2 checkpoints
	chunk   uint64      // version-2 checkpoints
	ops     []*op
}

func (b *batch) ver() byte {
	if b.version == 0 {
		return batchVersion
	}
	return b.version
}

// encodeBatch appends the encoding of b to dst.
func encodeBatch(dst []byte, b *batch) []byte {
	dst = encodeBatchHeader(dst, b)
	dst = binary.AppendUvarint(dst, uint64(len(b.ops)))
	for _, o := range b.ops {
		dst = encodeOp(dst, o, b.ver())
	}
	return dst
}

// encodeBatchHeader appends everything before the op count.
func encodeBatchHeader(dst []byte, b *batch) []byte {
	dst = append(dst, b.ver(), byte(b.kind))
	dst = binary.AppendUvarint(dst, b.seq)
	dst = append(dst, b.prev[:]...)
	if b.ver() >= batchVersion2 && b.kind == crypt.KindSnapshot {
		dst = append(dst, byte(b.suite))
		dst = binary.AppendUvarint(dst, b.chunk)
	}
	return dst
}

// encodeOp appends one op as batch version v encodes it.
func encodeOp(dst []byte, o *op, v byte) []byte {
	kind := o.kind
	if kind == opInode && v >= batchVersion2 {
		kind = opInode2
	}
	switch {
	case kind == opExtents && hasCompressed(o.sets):
		if v < batchVersion4 {
			panic("meta: internal error: a compressed extent in a batch older than version 4")
		}
		kind = opExtents4
	case kind == opExtents && hasContent(o.sets):
		if v < batchVersion3 {
			panic("meta: internal error: a content id in a batch older than version 3")
		}
		kind = opExtents3
	}
	dst = append(dst, byte(kind))
	switch o.kind {
	case opInode:
		a := &o.attr
		dst = appendUvarints(dst, uint64(o.ino), uint64(a.Mode), uint64(a.Uid), uint64(a.Gid), a.Size, uint64(a.Nlink))
		dst = binary.AppendVarint(dst, a.Atime)
		dst = binary.AppendVarint(dst, a.Mtime)
		dst = binary.AppendVarint(dst, a.Ctime)
		dst = appendString(dst, o.target)
		if kind == opInode2 {
			dst = binary.AppendUvarint(dst, uint64(a.Rdev))
		} else if a.Rdev != 0 || !legacyType(a.Mode) {
			panic("meta: internal error: a special file in a version-1 batch")
		}
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
			if kind == opExtents3 || kind == opExtents4 {
				dst = append(dst, s.Content[:]...)
			}
			if kind == opExtents4 {
				dst = binary.AppendUvarint(dst, uint64(s.Stored))
			}
		}
	default:
		panic("meta: internal error: encoding unknown op")
	}
	return dst
}

// hasCompressed reports whether an extent of sets is compressed.
func hasCompressed(sets []indexedExtent) bool {
	for _, s := range sets {
		if s.Compressed() {
			return true
		}
	}
	return false
}

// hasContent reports whether an extent of sets has a content id.
func hasContent(sets []indexedExtent) bool {
	for _, s := range sets {
		if !s.Content.IsZero() {
			return true
		}
	}
	return false
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
	d, err := newBatchDecoder(data)
	if err != nil {
		return nil, err
	}
	return d.all()
}

// batchDecoder decodes a batch as decodeBatch does, its header at once
// and its ops one at a time: a tree is loaded op by op as the checkpoint
// is read, instead of first holding the checkpoint's three million ops
// for a million files (about 500 MB; docs/PERFORMANCE.md, "The FUSE side
// without a node per entry").
type batchDecoder struct {
	r    *reader
	b    *batch // the header; ops stay nil
	left int    // ops not decoded yet
}

// newBatchDecoder decodes data's header.
func newBatchDecoder(data []byte) (*batchDecoder, error) {
	r := newReader(data)
	v := r.Byte()
	if v < batchVersion1 || v > batchVersion4 {
		return nil, corrupt("batch version %d", v)
	}
	b := &batch{version: v, kind: crypt.RecordKind(r.Byte()), seq: r.Uvarint()}
	if b.kind != crypt.KindJournal && b.kind != crypt.KindSnapshot {
		return nil, corrupt("batch kind %d", b.kind)
	}
	copy(b.prev[:], r.Bytes(32))
	if b.kind == crypt.KindSnapshot && b.prev != [32]byte{} {
		return nil, corrupt("snapshot with a previous hash")
	}
	if v >= batchVersion2 && b.kind == crypt.KindSnapshot {
		b.suite, b.chunk = crypt.Suite(r.Byte()), r.Uvarint()
		if r.Err() == nil && (b.chunk == 0 || b.chunk > crypt.MaxObjectSize) {
			r.Fail("chunk size %d", b.chunk)
		}
	}
	n := r.Count(2)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return &batchDecoder{r: r, b: b, left: n}, nil
}

// next decodes the next op; nil at the end, or at the first error
// (finish reports it).
func (d *batchDecoder) next() *op {
	if d.left == 0 || d.r.Err() != nil {
		return nil
	}
	d.left--
	o := d.r.op(d.b.version)
	if d.r.Err() != nil {
		return nil
	}
	return o
}

// all decodes the ops not decoded yet into the batch and returns it.
func (d *batchDecoder) all() (*batch, error) {
	d.b.ops = make([]*op, 0, d.left)
	for o := d.next(); o != nil; o = d.next() {
		d.b.ops = append(d.b.ops, o)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return d.b, nil
}

// finish reports, once next returned nil, a decoding error or bytes past
// the last op.
func (d *batchDecoder) finish() error { return d.r.Finish() }

// counts returns how many inodes and extents the ops not decoded yet
// set, decoding them on a copy of d: a checkpoint's load reserves the
// tree's slices once instead of growing them (which left 14 bytes per
// entry of slack, and at each growth held the old slices and the new).
func (d *batchDecoder) counts() (inodes, extents int) {
	r := *d.r.Reader
	c := &batchDecoder{r: &reader{&r}, b: d.b, left: d.left}
	for o := c.next(); o != nil; o = c.next() {
		switch o.kind {
		case opInode:
			inodes++
		case opExtents:
			extents += len(o.sets)
		}
	}
	return inodes, extents
}

// reader decodes metadata payloads (the shared strict decoder, plus the
// metadata types); its failures are corrupt errors.
type reader struct{ *wire.Reader }

func newReader(data []byte) *reader {
	return &reader{wire.NewReader(data, func(msg string) error { return corrupt("%s", msg) })}
}

// ino reads a non-zero inode number.
func (r *reader) ino() Ino {
	v := r.Uvarint()
	if v == 0 && r.Err() == nil {
		r.Fail("inode 0")
	}
	return Ino(v)
}

func (r *reader) name() string {
	s := r.String(MaxNameLen)
	if r.Err() == nil && CheckName(s) != nil {
		r.Fail("bad name")
	}
	return s
}

func (r *reader) xattrName() string {
	s := r.String(MaxXattrNameLen)
	if r.Err() == nil && s == "" {
		r.Fail("empty xattr name")
	}
	return s
}

func (r *reader) op(v byte) *op {
	o := &op{kind: opKind(r.Byte())}
	switch {
	case o.kind == opInode && v == batchVersion1:
		r.inode(o, false)
		return o
	case o.kind == opInode2 && v >= batchVersion2:
		o.kind = opInode
		r.inode(o, true)
		return o
	case o.kind == opInode || o.kind == opInode2:
		r.Fail("op %d in a version-%d batch", o.kind, v)
		return o
	}
	switch o.kind {
	case opLink:
		o.parent, o.name, o.ino = r.ino(), r.name(), r.ino()
	case opUnlink:
		o.parent, o.name = r.ino(), r.name()
	case opDrop:
		o.ino = r.ino()
	case opSetXattr:
		o.ino, o.name = r.ino(), r.xattrName()
		o.value = []byte(r.String(MaxXattrValueLen))
	case opRemoveXattr:
		o.ino, o.name = r.ino(), r.xattrName()
	case opExtents:
		r.extents(o, false, false)
	case opExtents3, opExtents4:
		compressed, since := o.kind == opExtents4, byte(batchVersion3)
		if compressed {
			since = batchVersion4
		}
		if v < since {
			r.Fail("op %d in a version-%d batch", o.kind, v)
			break
		}
		o.kind = opExtents
		r.extents(o, true, compressed)
	default:
		r.Fail("unknown op %d", o.kind)
	}
	return o
}

// inode reads an opInode (v2: an opInode2, with rdev and special types).
func (r *reader) inode(o *op, v2 bool) {
	o.ino = r.ino()
	a := &o.attr
	a.Mode, a.Uid, a.Gid, a.Size, a.Nlink = r.U32(), r.U32(), r.U32(), r.Uvarint(), r.U32()
	a.Atime, a.Mtime, a.Ctime = r.Varint(), r.Varint(), r.Varint()
	o.target = r.String(MaxSymlinkLen)
	if v2 {
		a.Rdev = r.U32()
	}
	if r.Err() != nil {
		return
	}
	typ := a.Mode & syscall.S_IFMT
	switch {
	case a.Mode&^(syscall.S_IFMT|0o7777) != 0 || !validType(a.Mode) || !v2 && !legacyType(a.Mode):
		r.Fail("mode %o", a.Mode)
	case a.Rdev != 0 && !isDevice(a.Mode):
		r.Fail("rdev on mode %o", a.Mode)
	case a.Size != 0 && isSpecial(a.Mode):
		r.Fail("size %d on mode %o", a.Size, a.Mode)
	case (typ == syscall.S_IFLNK) != (o.target != ""):
		r.Fail("symlink target on mode %o", a.Mode)
	case a.Size > MaxFileSize || typ == syscall.S_IFLNK && a.Size != uint64(len(o.target)):
		r.Fail("size %d", a.Size)
	}
}

// extentSize is the fewest bytes one encoded extent takes.
const extentSize = 1 + 16 + 3

// extents reads an opExtents (content: an opExtents3, with content ids,
// at least one of them not zero, as the encoder writes it; compressed: an
// opExtents4, with content ids and stored lengths, at least one of those
// not zero).
func (r *reader) extents(o *op, content, compressed bool) {
	o.ino, o.nExt = r.ino(), r.Uvarint()
	size := extentSize
	if content {
		size += 16
	}
	if compressed {
		size++
	}
	n := r.Count(size)
	o.sets = make([]indexedExtent, 0, n)
	for i := range n {
		var s indexedExtent
		s.Index = r.Uvarint()
		copy(s.Object[:], r.Bytes(16))
		s.ObjectSize, s.Offset, s.Length = r.U32(), r.U32(), r.U32()
		if content {
			copy(s.Content[:], r.Bytes(16))
		}
		if compressed {
			s.Stored = r.U32()
		}
		if r.Err() != nil {
			return
		}
		if s.Index >= o.nExt || i > 0 && s.Index <= o.sets[i-1].Index || checkExtent(s.Extent, crypt.MaxObjectSize) != nil {
			r.Fail("extent %d", s.Index)
			return
		}
		o.sets = append(o.sets, s)
	}
	switch {
	case r.Err() != nil:
	case compressed && !hasCompressed(o.sets):
		r.Fail("op %d without a compressed extent", opExtents4)
	case content && !compressed && !hasContent(o.sets):
		r.Fail("op %d without a content id", opExtents3)
	}
}
