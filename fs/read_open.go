package fs

import (
	"github.com/sealfs/sealfs/crypt"
)

// openInPlace authenticates the whole segments in ct (the bytes
// crypt.SegmentSpan named, starting at segment firstSeg of object id of
// objSize plaintext bytes) and decrypts each over its own ciphertext. It
// returns one plaintext slice per segment, each a slice of ct, so a range
// read costs one buffer (the one the store returned), no zeroing, and one
// object key derivation.
// On any failure ct is cleared, so no plaintext is left behind, and the
// error wraps crypt.ErrAuth.
func openInPlace(k *crypt.Keys, id crypt.ObjectID, objSize, firstSeg int64, ct []byte) ([][]byte, error) {
	return crypt.OpenSegmentsInPlace(k, id, objSize, firstSeg, ct)
}
