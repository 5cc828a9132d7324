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
	fail := func(err error) ([][]byte, error) {
		clear(ciphertext)
		return nil, err
	}
	if err := checkPlainLen(plainLen); err != nil {
		return fail(err)
	}
	nseg := segmentCount(plainLen)
	count := (int64(len(ciphertext)) + cipherSegmentSize - 1) / cipherSegmentSize
	last := firstSeg + count - 1
	if firstSeg < 0 || count == 0 || last >= nseg {
		return fail(authErr(id))
	}
	plainStart, plainEnd := firstSeg*SegmentSize, min((last+1)*SegmentSize, plainLen)
	if int64(len(ciphertext)) != plainEnd-plainStart+count*SegmentOverhead {
		return fail(authErr(id))
	}
	s, err := newObjectSealer(k, id)
	if err != nil {
		return fail(err)
	}
	out := make([][]byte, 0, count)
	ct := ciphertext
	for i := firstSeg; i <= last; i++ {
		n := segmentPlainLen(plainLen, i) + SegmentOverhead
		seg := ct[:n:n]
		ct = ct[n:]
		p, err := s.aead.Open(seg[:0], s.segNonce(i, i == nseg-1), seg, s.hdr[:])
		if err != nil {
			return fail(authErr(id))
		}
		out = append(out, p)
	}
	return out, nil
}
