package stage

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// intentVersion is the first byte of the intent payload.
const intentVersion = 1

// Limits the decoder enforces (a sealed intent is ours, but a parser never
// trusts its input).
const (
	maxString = 1024
	maxPath   = 1 << 20
)

// Intent is the writer's record of changes published in its tree but not
// yet committed. It is written before each commit attempt and removed
// after the commit lands.
//
// Payload, before sealing (integers are uvarints, times varints of Unix
// nanoseconds, strings uvarint length || bytes):
//
//	version(1) || base seq || base mount id (string) || base time ||
//	writer mount id (string) || device (string) || written time ||
//	next inode || ops (string) || n objects || n × 16-byte object id ||
//	n files || files
//
// where a file is
//
//	path (string) || mode || uid || gid || size || mtime || n extents ||
//	n × (16-byte object id || object size || offset || length)
//
// It is sealed as a crypt record of kind KindLocal with seq = base seq,
// under HKDF-SHA256(Keys.Local, info "sealfs stage intent v1").
type Intent struct {
	// The head the changes build on (meta.Head Seq, MountID, Time).
	BaseSeq   uint64
	BaseMount string
	BaseTime  int64
	// Writer is the mount id of the writer; Device its device name.
	Writer string
	Device string
	// Written is when the intent was written (Unix ns).
	Written int64
	// Next and Ops are meta.Pending's: replayed on the base head.
	Next uint64
	Ops  []byte
	// Objects are the data objects Ops reference.
	Objects []crypt.ObjectID
	// Files are the regular files Ops give data or a name, with their
	// content as of the intent: what a recovery sets aside when the base
	// head is no longer the head.
	Files []File
}

// File is one regular file of an Intent: its path relative to the root
// of the vault, attributes and extents.
type File struct {
	Path     string
	Mode     uint32
	Uid, Gid uint32
	Size     uint64
	Mtime    int64
	Extents  []meta.Extent
}

// Encode returns the payload of in (see Intent).
func (in *Intent) Encode() []byte {
	b := []byte{intentVersion}
	b = binary.AppendUvarint(b, in.BaseSeq)
	b = appendString(b, in.BaseMount)
	b = binary.AppendVarint(b, in.BaseTime)
	b = appendString(b, in.Writer)
	b = appendString(b, in.Device)
	b = binary.AppendVarint(b, in.Written)
	b = binary.AppendUvarint(b, in.Next)
	b = appendString(b, string(in.Ops))
	b = binary.AppendUvarint(b, uint64(len(in.Objects)))
	for _, id := range in.Objects {
		b = append(b, id[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(in.Files)))
	for _, f := range in.Files {
		b = appendString(b, f.Path)
		for _, v := range []uint64{uint64(f.Mode), uint64(f.Uid), uint64(f.Gid), f.Size} {
			b = binary.AppendUvarint(b, v)
		}
		b = binary.AppendVarint(b, f.Mtime)
		b = binary.AppendUvarint(b, uint64(len(f.Extents)))
		for _, e := range f.Extents {
			b = append(b, e.Object[:]...)
			for _, v := range []uint32{e.ObjectSize, e.Offset, e.Length} {
				b = binary.AppendUvarint(b, uint64(v))
			}
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ParseError is a payload that authenticated but does not parse (only a
// bug can make one).
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return "stage: bad intent: " + e.Msg }

// DecodeIntent parses a payload strictly: non-minimal varints, values out
// of range and trailing bytes are errors, so an accepted payload encodes
// back to the same bytes.
func DecodeIntent(data []byte) (*Intent, error) {
	r := &reader{buf: data}
	if v := r.byte(); r.err == nil && v != intentVersion {
		return nil, &ParseError{fmt.Sprintf("version %d", v)}
	}
	in := &Intent{BaseSeq: r.uvarint(), BaseMount: r.string(maxString), BaseTime: r.varint()}
	in.Writer, in.Device = r.string(maxString), r.string(maxString)
	in.Written, in.Next = r.varint(), r.uvarint()
	in.Ops = []byte(r.string(crypt.MaxRecordSize))
	for n := r.count(16); n > 0 && r.err == nil; n-- {
		var id crypt.ObjectID
		copy(id[:], r.bytes(16))
		in.Objects = append(in.Objects, id)
	}
	for n := r.count(7); n > 0 && r.err == nil; n-- {
		in.Files = append(in.Files, r.file())
	}
	if r.err == nil && r.pos != len(data) {
		r.fail("%d trailing bytes", len(data)-r.pos)
	}
	if r.err != nil {
		return nil, r.err
	}
	return in, nil
}

func (r *reader) file() File {
	f := File{Path: r.string(maxPath), Mode: r.u32(), Uid: r.u32(), Gid: r.u32(), Size: r.uvarint(), Mtime: r.varint()}
	for n := r.count(19); n > 0 && r.err == nil; n-- {
		var e meta.Extent
		copy(e.Object[:], r.bytes(16))
		e.ObjectSize, e.Offset, e.Length = r.u32(), r.u32(), r.u32()
		f.Extents = append(f.Extents, e)
	}
	return f
}

// seal encodes and seals in (see Intent).
func (in *Intent) seal(rnd io.Reader, key crypt.Key) ([]byte, error) {
	sealed, err := crypt.SealRecord(rnd, key, crypt.KindLocal, in.BaseSeq, in.Encode())
	if err != nil {
		return nil, fmt.Errorf("stage: seal intent: %w", err)
	}
	return sealed, nil
}

// openIntent authenticates and parses a sealed intent.
func openIntent(key crypt.Key, sealed []byte) (*Intent, error) {
	kind, seq, err := crypt.ParseRecordHeader(sealed)
	if err != nil || kind != crypt.KindLocal {
		return nil, fmt.Errorf("intent: %w", crypt.ErrAuth)
	}
	payload, err := crypt.OpenRecord(key, crypt.KindLocal, seq, sealed)
	if err != nil {
		return nil, fmt.Errorf("intent: %w", err)
	}
	in, err := DecodeIntent(payload)
	if err == nil && in.BaseSeq != seq {
		err = &ParseError{fmt.Sprintf("base seq %d sealed as %d", in.BaseSeq, seq)}
	}
	if err != nil {
		return nil, fmt.Errorf("intent: %w: %w", crypt.ErrAuth, err)
	}
	return in, nil
}

func randOr(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// reader decodes with a sticky error.
type reader struct {
	buf []byte
	pos int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = &ParseError{fmt.Sprintf("at byte %d: ", r.pos) + fmt.Sprintf(format, args...)}
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
	if n < 0 || len(r.buf)-r.pos < n {
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
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
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

func (r *reader) u32() uint32 {
	v := r.uvarint()
	if v > 1<<32-1 {
		r.fail("value %d out of range", v)
		return 0
	}
	return uint32(v)
}

// count reads a list length whose items take at least minSize bytes each.
func (r *reader) count(minSize int) int {
	v := r.uvarint()
	if r.err == nil && v > uint64(len(r.buf)-r.pos)/uint64(minSize) {
		r.fail("count %d too large", v)
		return 0
	}
	return int(v)
}

func (r *reader) string(maxLen int) string {
	n := r.uvarint()
	if r.err == nil && n > uint64(maxLen) {
		r.fail("string of %d bytes", n)
		return ""
	}
	return string(r.bytes(int(n)))
}
