package crypt

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ObjectHeader is the cleartext header of a sealed chunk object:
//
//	offset size field
//	0      1    version (FormatVersion)
//	1      1    suite   (Suite)
//	2      16   object id
//
// It is followed by the segments, each ciphertext||tag. The header is the
// AAD of every segment; range reads rebuild it from the values the caller
// already knows (version, the vault's suite, the id), so a stored header
// that differs from the sealed one fails authentication when the whole
// object is opened, and OpenObject also compares the stored bytes.
type ObjectHeader struct {
	Version byte
	Suite   Suite
	ID      ObjectID
}

// ParseObjectHeader parses the first ObjectHeaderSize bytes of b. It fails
// with a *ParseError for a short input, an unknown version or suite. It does
// not authenticate anything: it is for diagnostics (sealfs check); OpenObject
// and OpenSegments never trust it.
func ParseObjectHeader(b []byte) (ObjectHeader, error) {
	if len(b) < ObjectHeaderSize {
		return ObjectHeader{}, parseErr("object header", "", "%d bytes, want at least %d", len(b), ObjectHeaderSize)
	}
	h := ObjectHeader{Version: b[0], Suite: Suite(b[1])}
	copy(h.ID[:], b[2:ObjectHeaderSize])
	if h.Version != FormatVersion {
		return ObjectHeader{}, parseErr("object header", "version", "unsupported format version %d (this sealfs reads %d): written by a newer sealfs, or damaged", h.Version, FormatVersion)
	}
	if !h.Suite.Valid() {
		return ObjectHeader{}, parseErr("object header", "suite", "unknown cipher suite %d", b[1])
	}
	return h, nil
}

// Marshal returns the ObjectHeaderSize bytes of h.
func (h ObjectHeader) Marshal() []byte { return h.append(nil) }

func (h ObjectHeader) append(b []byte) []byte {
	b = append(b, h.Version, byte(h.Suite))
	return append(b, h.ID[:]...)
}

// objectSealer is the per-object state: one AEAD and the AAD header, reused
// for every segment so that sealing allocates only the output buffer.
type objectSealer struct {
	aead  cipher.AEAD
	hdr   [ObjectHeaderSize]byte
	nonce [24]byte
	nsize int
}

// newObjectSealer derives the object key HKDF(Data, info="sealfs v1 object"
// || suite || id) and builds the suite's AEAD with it.
func newObjectSealer(k *Keys, id ObjectID) (*objectSealer, error) {
	if k == nil {
		return nil, errors.New("crypt: nil Keys")
	}
	si, ok := suites[k.Suite]
	if !ok {
		return nil, fmt.Errorf("crypt: keys have unknown cipher suite %d", k.Suite)
	}
	info := make([]byte, 0, len(infoObject)+1+len(id))
	info = append(append(append(info, infoObject...), byte(k.Suite)), id[:]...)
	key := hkdfKey(k.Data[:], nil, string(info))
	aead, err := si.newAEAD(key[:])
	clear(key[:])
	if err != nil {
		return nil, fmt.Errorf("crypt: internal error: %w", err)
	}
	s := &objectSealer{aead: aead, nsize: si.nonceSize}
	ObjectHeader{Version: FormatVersion, Suite: k.Suite, ID: id}.append(s.hdr[:0])
	return s, nil
}

// segNonce is the STREAM nonce of segment i: zeros, then the 8-byte
// big-endian counter, then 1 if it is the last segment of the object, else 0.
func (s *objectSealer) segNonce(i int64, last bool) []byte {
	n := s.nonce[:s.nsize]
	binary.BigEndian.PutUint64(n[s.nsize-9:], uint64(i))
	n[s.nsize-1] = 0
	if last {
		n[s.nsize-1] = 1
	}
	return n
}

// SealObject seals plaintext (at most MaxObjectSize bytes) as the object id:
// header, then SegmentSize segments each sealed with the object key, the
// STREAM nonce and the header as AAD. id must be fresh (NewObjectID) for
// every call: sealing different plaintext under one id reuses nonces.
func SealObject(k *Keys, id ObjectID, plaintext []byte) ([]byte, error) {
	return AppendSealObject(nil, k, id, plaintext)
}

// AppendSealObject is SealObject appending the sealed object to dst, so a
// caller that reuses buffers (a sync.Pool of chunk buffers) seals without
// allocating: fresh multi-MiB buffers cost page faults that dwarf the AEAD.
// dst's spare capacity must not overlap plaintext. On error it returns nil.
func AppendSealObject(dst []byte, k *Keys, id ObjectID, plaintext []byte) ([]byte, error) {
	n := int64(len(plaintext))
	return AppendSealObjectSegments(dst, k, id, n, func(i int64) []byte {
		return plaintext[i*SegmentSize : i*SegmentSize+segmentPlainLen(n, i)]
	})
}

// AppendSealObjectSegments is AppendSealObject for a plaintext of plainLen
// bytes handed over one segment at a time: seg(i) returns segment i's
// plaintext (SegmentSize bytes, the last one shorter), which must not
// overlap dst's spare capacity and is read before the next call. A chunk
// held in pieces is so sealed without first being copied into one
// buffer. The sealed bytes are AppendSealObject's for the same plaintext.
func AppendSealObjectSegments(dst []byte, k *Keys, id ObjectID, plainLen int64, seg func(i int64) []byte) ([]byte, error) {
	if err := checkPlainLen(plainLen); err != nil {
		return nil, err
	}
	s, err := newObjectSealer(k, id)
	if err != nil {
		return nil, err
	}
	out := slices.Grow(dst, int(ObjectCipherSize(plainLen)))
	out = append(out, s.hdr[:]...)
	nseg := segmentCount(plainLen)
	for i := range nseg {
		p := seg(i)
		if int64(len(p)) != segmentPlainLen(plainLen, i) {
			return nil, fmt.Errorf("crypt: segment %d of a %d-byte plaintext is %d bytes", i, plainLen, len(p))
		}
		out = s.aead.Seal(out, s.segNonce(i, i == nseg-1), p, s.hdr[:])
	}
	return out, nil
}

// OpenObject authenticates a whole sealed object that must be the object id
// sealed under k, and returns its plaintext. Any mismatch (header, length,
// key, segment order, truncation, extension) is ErrAuth.
func OpenObject(k *Keys, id ObjectID, sealed []byte) ([]byte, error) {
	return AppendOpenObject(nil, k, id, sealed)
}

// AppendOpenObject is OpenObject appending the plaintext to dst (which must
// not overlap sealed). On error it returns nil and leaves no plaintext in
// dst's spare capacity.
func AppendOpenObject(dst []byte, k *Keys, id ObjectID, sealed []byte) ([]byte, error) {
	s, err := newObjectSealer(k, id)
	if err != nil {
		return nil, err
	}
	if len(sealed) < ObjectHeaderSize || string(sealed[:ObjectHeaderSize]) != string(s.hdr[:]) {
		return nil, authErr(id)
	}
	plainLen, err := ObjectPlainSize(int64(len(sealed)))
	if err != nil {
		return nil, authErr(id)
	}
	return s.open(dst, id, plainLen, 0, sealed[ObjectHeaderSize:])
}

// OpenSegments authenticates whole segments of the object id, whose whole
// plaintext is plainLen bytes, starting at segment firstSeg (ciphertext is
// what SegmentSpan said to fetch, without the header). It returns their
// plaintext, which starts at offset firstSeg*SegmentSize of the object.
// Ciphertext that does not end on a segment boundary, runs past the last
// segment, or fails to authenticate is ErrAuth.
func OpenSegments(k *Keys, id ObjectID, plainLen, firstSeg int64, ciphertext []byte) ([]byte, error) {
	return AppendOpenSegments(nil, k, id, plainLen, firstSeg, ciphertext)
}

// AppendOpenSegments is OpenSegments appending the plaintext to dst (which
// must not overlap ciphertext); the appended part starts at object offset
// firstSeg*SegmentSize. On error it returns nil.
func AppendOpenSegments(dst []byte, k *Keys, id ObjectID, plainLen, firstSeg int64, ciphertext []byte) ([]byte, error) {
	if err := checkPlainLen(plainLen); err != nil {
		return nil, err
	}
	if firstSeg < 0 || firstSeg >= segmentCount(plainLen) {
		return nil, fmt.Errorf("crypt: segment %d outside an object of %d bytes", firstSeg, plainLen)
	}
	s, err := newObjectSealer(k, id)
	if err != nil {
		return nil, err
	}
	return s.open(dst, id, plainLen, firstSeg, ciphertext)
}

func (s *objectSealer) open(dst []byte, id ObjectID, plainLen, first int64, ct []byte) ([]byte, error) {
	nseg := segmentCount(plainLen)
	count := (int64(len(ct)) + cipherSegmentSize - 1) / cipherSegmentSize
	last := first + count - 1
	if count == 0 || last >= nseg {
		return nil, authErr(id)
	}
	plainStart, plainEnd := first*SegmentSize, min((last+1)*SegmentSize, plainLen)
	if int64(len(ct)) != plainEnd-plainStart+count*SegmentOverhead {
		return nil, authErr(id)
	}
	out := slices.Grow(dst, int(plainEnd-plainStart))
	for i := first; i <= last; i++ {
		seg := ct[:segmentPlainLen(plainLen, i)+SegmentOverhead]
		ct = ct[len(seg):]
		o, err := s.aead.Open(out, s.segNonce(i, i == nseg-1), seg, s.hdr[:])
		if err != nil {
			clear(out[len(dst):cap(out)]) // never leave plaintext of earlier segments behind
			return nil, authErr(id)
		}
		out = o
	}
	return out, nil
}

func authErr(id ObjectID) error {
	return fmt.Errorf("crypt: object %s: %w", id, ErrAuth)
}
