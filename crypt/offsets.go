package crypt

import "fmt"

const (
	// SegmentSize is the plaintext size of one AEAD segment inside a chunk object.
	SegmentSize = 64 << 10
	// DefaultChunkSize is the default plaintext size of one chunk object.
	DefaultChunkSize = 4 << 20
	// MaxObjectSize is the largest plaintext a single sealed object may hold.
	MaxObjectSize = 64 << 20

	// ObjectHeaderSize is the size of the cleartext header of a chunk object.
	ObjectHeaderSize = 18 // version(1) + suite(1) + id(16)
	// SegmentOverhead is the AEAD tag appended to every segment.
	SegmentOverhead = tagSize
	// cipherSegmentSize is the stored size of every segment but the last.
	cipherSegmentSize = SegmentSize + SegmentOverhead
)

// segmentCount is the number of segments of an object of plainLen bytes: an
// empty object is one empty final segment; otherwise the last segment holds
// 1..SegmentSize bytes (it is never empty).
func segmentCount(plainLen int64) int64 {
	if plainLen <= 0 {
		return 1
	}
	return (plainLen + SegmentSize - 1) / SegmentSize
}

// segmentPlainLen is the plaintext size of segment i of an object of
// plainLen bytes.
func segmentPlainLen(plainLen, i int64) int64 {
	return min(SegmentSize, plainLen-i*SegmentSize)
}

// ObjectCipherSize is the stored size of an object holding plainLen bytes of
// plaintext: header + plaintext + one tag per segment.
func ObjectCipherSize(plainLen int64) int64 {
	return int64(ObjectHeaderSize) + plainLen + segmentCount(plainLen)*SegmentOverhead
}

// ObjectPlainSize is the inverse of ObjectCipherSize. It fails with a
// *ParseError for a length no sealed object can have (too short, a partial
// tag, a non-canonical empty last segment, or above MaxObjectSize).
func ObjectPlainSize(cipherLen int64) (int64, error) {
	r := cipherLen - int64(ObjectHeaderSize)
	if r < SegmentOverhead {
		return 0, parseErr("object", "length", "%d bytes is shorter than header and one tag", cipherLen)
	}
	full, rem := r/cipherSegmentSize, r%cipherSegmentSize
	var plain int64
	switch {
	case rem == 0:
		plain = full * SegmentSize
	case rem == SegmentOverhead && full > 0:
		return 0, parseErr("object", "length", "%d bytes ends in an empty segment after full ones", cipherLen)
	case rem < SegmentOverhead:
		return 0, parseErr("object", "length", "%d bytes ends in a partial tag", cipherLen)
	default:
		plain = full*SegmentSize + rem - SegmentOverhead
	}
	if plain > MaxObjectSize {
		return 0, parseErr("object", "length", "%d plaintext bytes exceeds the maximum %d", plain, MaxObjectSize)
	}
	return plain, nil
}

// SegmentSpan returns the byte range [cipherOff, cipherOff+cipherLen) of a
// sealed object to fetch in order to read plaintext [off, off+n) of an object
// whose whole plaintext is plainLen bytes, and the index of the first segment
// in that range. Pass the fetched bytes to OpenSegments; its result starts at
// plaintext offset firstSeg*SegmentSize.
//
// The range is clamped to the object. The span always covers at least one
// segment, so every read is authenticated: an empty range (n <= 0, or off at
// or past the end) yields the segment holding off, or the last segment.
// Negative off counts as 0. The header is never part of the span: a range
// read does not need it.
func SegmentSpan(plainLen, off, n int64) (cipherOff, cipherLen, firstSeg int64) {
	plainLen = min(max(plainLen, 0), MaxObjectSize)
	off = max(off, 0)
	nseg := segmentCount(plainLen)
	first := min(off/SegmentSize, nseg-1)
	last := first // inclusive
	if n > 0 && off < plainLen {
		end := min(off+min(n, plainLen), plainLen) // min(n, plainLen) avoids overflow
		last = (end - 1) / SegmentSize
	}
	cipherOff = int64(ObjectHeaderSize) + first*cipherSegmentSize
	endPlain := min((last+1)*SegmentSize, plainLen)
	cipherLen = endPlain - first*SegmentSize + (last-first+1)*SegmentOverhead
	return cipherOff, cipherLen, first
}

// checkPlainLen validates an object's plaintext size given by a caller.
func checkPlainLen(plainLen int64) error {
	if plainLen < 0 || plainLen > MaxObjectSize {
		return fmt.Errorf("crypt: object plaintext size %d outside [0, %d]", plainLen, MaxObjectSize)
	}
	return nil
}

// PaddedSize is the Padmé length of n (see padme): n rounded up so that
// only O(log log n) bits of it show, at most 12% more. Chunk objects are
// sealed at their exact size, so a file's last chunk would reveal the file
// size modulo the chunk size; a caller that wants to hide it seals the tail
// chunk zero-padded to PaddedSize(n) and keeps the true length in its own
// (sealed) metadata, e.g. an extent's Length below its ObjectSize.
func PaddedSize(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return int64(padme(uint64(n)))
}
