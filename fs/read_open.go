package fs

import (
	"fmt"

	"github.com/sealfs/sealfs/crypt"
)

// openInPlace authenticates the whole segments in ct (the bytes
// crypt.SegmentSpan named, starting at segment firstSeg of object id of
// objSize plaintext bytes) and decrypts each over its own ciphertext. It
// returns one plaintext slice per segment, each a slice of ct, so a range
// read costs one buffer (the one the store returned) and no zeroing.
//
// Each segment is opened by its own crypt.AppendOpenSegments call with dst
// exactly at the segment's ciphertext: AEAD Open allows that one overlap,
// and crypt grows dst in place because ct has the capacity.
// On any failure ct is cleared, so no plaintext is left behind, and the
// error wraps crypt.ErrAuth.
func openInPlace(k *crypt.Keys, id crypt.ObjectID, objSize, firstSeg int64, ct []byte) ([][]byte, error) {
	const cseg = crypt.SegmentSize + crypt.SegmentOverhead
	nseg := (objSize + crypt.SegmentSize - 1) / crypt.SegmentSize
	count := (int64(len(ct)) + cseg - 1) / cseg
	if objSize <= 0 || firstSeg < 0 || count == 0 || firstSeg+count > nseg {
		return nil, fmt.Errorf("object %s: %d ciphertext bytes from segment %d of a %d-byte object: %w",
			id, len(ct), firstSeg, objSize, crypt.ErrAuth)
	}
	out := make([][]byte, 0, count)
	for i := range count {
		seg := firstSeg + i
		n := min(crypt.SegmentSize, objSize-seg*crypt.SegmentSize) + crypt.SegmentOverhead
		lo := i * cseg
		if lo+n > int64(len(ct)) || i == count-1 && lo+n != int64(len(ct)) {
			clear(ct)
			return nil, fmt.Errorf("object %s: segment %d is cut short: %w", id, seg, crypt.ErrAuth)
		}
		c := ct[lo : lo+n : lo+n]
		p, err := crypt.AppendOpenSegments(c[:0], k, id, objSize, seg, c)
		if err != nil {
			clear(ct)
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
