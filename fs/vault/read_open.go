package vault

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// bodyError is a range response that broke off after the store answered:
// the store's retry covers opening a range, not reading it, so the reader
// asks for the range again (getSegments).
type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// bodyRetries is how often a range whose body broke is asked for again.
const bodyRetries = 3

// openPiece is how much of a response is read before it is decrypted: a
// few segments, small enough to still be in the CPU cache.
const openPiece = 4 * cipherSeg

// readOpen reads the ciphertext bytes at cOff of object id (the span
// crypt.SegmentSpan named, starting at segment firstSeg), as many as the
// blocks hold, into the blocks (segCache.getBuf: openPiece bytes each but
// the last) and opens the segments over their own ciphertext as they
// arrive, so a range read costs one buffer, no zeroing, one key
// derivation and one pass over the bytes while they are in the CPU cache.
// It appends one plaintext slice per segment, each a slice of a block, to
// segs.
//
// A body cut short is transient (read the range again); an object shorter
// than the range or a segment that does not authenticate is crypt.ErrAuth.
// On any error the blocks are cleared, so no plaintext is left behind.
func readOpen(ctx context.Context, store remote.Store, op *crypt.SegmentOpener, id crypt.ObjectID, cOff, firstSeg int64, blocks [][]byte, segs [][]byte) (_ [][]byte, err error) {
	defer func() {
		if err != nil {
			for _, b := range blocks {
				clear(b)
			}
		}
	}()
	var want int64
	for i, b := range blocks {
		if len(b) != openPiece && i != len(blocks)-1 || len(b) > openPiece {
			return nil, fmt.Errorf("object %s: read into a block of %d bytes", id, len(b))
		}
		want += int64(len(b))
	}
	rc, size, err := store.OpenRange(ctx, layout.DataKey(id), cOff, want)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size != want {
		return nil, fmt.Errorf("object %s: %d of %d bytes: %w", id, size, want, crypt.ErrAuth)
	}
	for i, p := range blocks {
		if _, err := io.ReadFull(rc, p); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, &bodyError{fmt.Errorf("object %s: %w", id, err)}
		}
		if segs, err = op.AppendOpenInPlace(segs, firstSeg+int64(i)*openPiece/cipherSeg, p); err != nil {
			return nil, err
		}
	}
	return segs, nil
}
