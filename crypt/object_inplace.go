package crypt

// OpenSegmentsInPlace is OpenSegments decrypting each segment over its own
// ciphertext: it derives the object key once, opens every segment of
// ciphertext (what SegmentSpan said to fetch, without the header) in
// place, and returns one plaintext slice per segment, each a slice of
// ciphertext starting where that segment's ciphertext started (the
// SegmentOverhead bytes after each are left over). Segment firstSeg+i
// holds object bytes from (firstSeg+i)*SegmentSize.
//
// It is for hot read paths that would otherwise allocate (and zero) a
// second buffer per range read. Ciphertext that does not end on a
// segment boundary, runs past the last segment, or fails to authenticate
// is ErrAuth; on any error the whole of ciphertext is cleared, so the
// plaintext of segments that opened before the failure is not left
// behind, and nil is returned.
func OpenSegmentsInPlace(k *Keys, id ObjectID, plainLen, firstSeg int64, ciphertext []byte) ([][]byte, error) {
	o, err := NewSegmentOpener(k, id, plainLen)
	if err != nil {
		clear(ciphertext)
		return nil, err
	}
	return o.AppendOpenInPlace(nil, firstSeg, ciphertext)
}

// SegmentOpener opens segments of one object in place, in as many calls as
// the caller likes (e.g. each run of segments as it arrives from the
// network, while it is still in the CPU cache), deriving the object key
// once. It is not safe for concurrent use.
type SegmentOpener struct {
	s        *objectSealer
	id       ObjectID
	plainLen int64
}

// NewSegmentOpener prepares to open segments of the object id, whose whole
// plaintext is plainLen bytes.
func NewSegmentOpener(k *Keys, id ObjectID, plainLen int64) (*SegmentOpener, error) {
	if err := checkPlainLen(plainLen); err != nil {
		return nil, err
	}
	s, err := newObjectSealer(k, id)
	if err != nil {
		return nil, err
	}
	return &SegmentOpener{s: s, id: id, plainLen: plainLen}, nil
}

// AppendOpenInPlace is OpenSegmentsInPlace with the opener's key, appending
// the segments' plaintext slices to segs. On any error it clears
// ciphertext and returns nil (it cannot clear earlier calls' buffers: the
// caller does).
func (o *SegmentOpener) AppendOpenInPlace(segs [][]byte, firstSeg int64, ciphertext []byte) ([][]byte, error) {
	fail := func(err error) ([][]byte, error) {
		clear(ciphertext)
		return nil, err
	}
	nseg := segmentCount(o.plainLen)
	count := (int64(len(ciphertext)) + cipherSegmentSize - 1) / cipherSegmentSize
	last := firstSeg + count - 1
	if firstSeg < 0 || count == 0 || last >= nseg {
		return fail(authErr(o.id))
	}
	plainStart, plainEnd := firstSeg*SegmentSize, min((last+1)*SegmentSize, o.plainLen)
	if int64(len(ciphertext)) != plainEnd-plainStart+count*SegmentOverhead {
		return fail(authErr(o.id))
	}
	if segs == nil {
		segs = make([][]byte, 0, count)
	}
	ct := ciphertext
	for i := firstSeg; i <= last; i++ {
		n := segmentPlainLen(o.plainLen, i) + SegmentOverhead
		seg := ct[:n:n]
		ct = ct[n:]
		p, err := o.s.aead.Open(seg[:0], o.s.segNonce(i, i == nseg-1), seg, o.s.hdr[:])
		if err != nil {
			return fail(authErr(o.id))
		}
		segs = append(segs, p)
	}
	return segs, nil
}
