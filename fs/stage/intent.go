package stage

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/wire"
	"github.com/sealfs/sealfs/fs/meta"
)

// intentVersion is the first byte of the intent payload this sealfs
// writes. Version 2 (format 4) adds each extent's stored length (its
// compressed frame's, meta.Extent.Stored); version 1, which a sealfs of
// an earlier format left behind, is read as well.
const (
	intentVersion1 = 1
	intentVersion  = 2
)

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
//	n × (16-byte object id || object size || offset || length ||
//	[version 2: stored])
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

	version byte // the payload version it was decoded from; 0: intentVersion
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
	v := in.version
	if v == 0 {
		v = intentVersion
	}
	b := []byte{v}
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
			switch {
			case v >= intentVersion:
				b = binary.AppendUvarint(b, uint64(e.Stored))
			case e.Compressed():
				panic("stage: internal error: a compressed extent in a version-1 intent")
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
	r := newReader(data)
	v := r.Byte()
	if r.Err() == nil && v != intentVersion1 && v != intentVersion {
		return nil, &ParseError{fmt.Sprintf("version %d", v)}
	}
	in := &Intent{BaseSeq: r.Uvarint(), BaseMount: r.String(maxString), BaseTime: r.Varint()}
	if v != intentVersion {
		in.version = v
	}
	in.Writer, in.Device = r.String(maxString), r.String(maxString)
	in.Written, in.Next = r.Varint(), r.Uvarint()
	in.Ops = []byte(r.String(crypt.MaxRecordSize))
	for n := r.Count(16); n > 0 && r.Err() == nil; n-- {
		var id crypt.ObjectID
		copy(id[:], r.Bytes(16))
		in.Objects = append(in.Objects, id)
	}
	for n := r.Count(7); n > 0 && r.Err() == nil; n-- {
		in.Files = append(in.Files, r.file(v))
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return in, nil
}

func (r *reader) file(v byte) File {
	f := File{Path: r.String(maxPath), Mode: r.U32(), Uid: r.U32(), Gid: r.U32(), Size: r.Uvarint(), Mtime: r.Varint()}
	for n := r.Count(19); n > 0 && r.Err() == nil; n-- {
		var e meta.Extent
		copy(e.Object[:], r.Bytes(16))
		e.ObjectSize, e.Offset, e.Length = r.U32(), r.U32(), r.U32()
		if v >= intentVersion {
			e.Stored = r.U32()
		}
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

// reader decodes the intent log (the shared strict decoder); its failures
// are *ParseError.
type reader struct{ *wire.Reader }

func newReader(data []byte) *reader {
	return &reader{wire.NewReader(data, func(msg string) error { return &ParseError{msg} })}
}
