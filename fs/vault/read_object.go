package vault

import (
	"context"
	"fmt"

	"github.com/sealfs/sealfs/crypt"
)

// ReadObject reads plaintext bytes [off, off+n) of the data object id,
// of objSize bytes as its extents name it, with one range request, and
// calls use with them in order, one authenticated segment's part at a
// time (at object offset at; the bytes are valid only during the call).
// use is called only once every segment of the range has authenticated:
// a damaged object yields an error and no bytes.
//
// It is for a reader that knows which objects it needs and reads each
// once, such as restore: a pack of small files is fetched once for all
// of them, and nothing goes through the read cache (its buffer counts
// against the cache's limit while in use).
func (fs *Vault) ReadObject(ctx context.Context, id crypt.ObjectID, objSize, off, n int64, use func(at int64, plain []byte) error) error {
	if objSize <= 0 || objSize > crypt.MaxObjectSize || off < 0 || n <= 0 || off+n > objSize {
		return fmt.Errorf("bytes [%d,+%d) of a %d-byte object: %w", off, n, objSize, ErrCorrupt)
	}
	segs, buf, err := fs.getSegments(ctx, id, objSize, off, n)
	if err != nil {
		return err
	}
	defer fs.cache.fetched(buf)
	first := off / crypt.SegmentSize
	pos := off
	for i, s := range segs {
		segStart := (first + int64(i)) * crypt.SegmentSize
		hi := min(off+n, segStart+int64(len(s)))
		if pos < segStart || hi <= pos {
			break // a short segment before the end: caught below
		}
		if err := use(pos, s[pos-segStart:hi-segStart]); err != nil {
			return err
		}
		pos = hi
	}
	if pos != off+n {
		return fmt.Errorf("object %s ends at %d, before %d: %w", id, pos, off+n, ErrCorrupt)
	}
	return nil
}
