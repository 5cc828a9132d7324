package vault

import (
	"context"
	"fmt"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// readExtentOnce is readExtent for bytes that are read once, such as a
// chunk about to be rewritten: segments already in the cache (or being
// fetched) are used, the others are fetched with one range request per
// run and not cached, so rewriting a chunk does not push the read cache
// out, nor keep a second plaintext copy of the chunk alive in it.
func (fs *Vault) readExtentOnce(ctx context.Context, e meta.Extent, off int64, dst []byte) error {
	if e.IsHole() || off >= int64(e.Length) {
		clear(dst)
		return nil
	}
	if e.Compressed() {
		return fs.readCompressed(ctx, e, off, dst) // read whole, kept decompressed
	}
	objSize := int64(e.ObjectSize)
	if int64(e.Offset)+int64(e.Length) > objSize || objSize > crypt.MaxObjectSize {
		return fmt.Errorf("extent [%d,+%d) of a %d-byte object: %w", e.Offset, e.Length, e.ObjectSize, ErrCorrupt)
	}
	n := min(int64(len(dst)), int64(e.Length)-off)
	clear(dst[n:])
	objOff := int64(e.Offset) + off
	put := func(s int64, data []byte) error {
		segStart := s * crypt.SegmentSize
		lo, hi := max(objOff, segStart), min(objOff+n, segStart+int64(len(data)))
		if hi <= lo {
			return fmt.Errorf("segment %d is short: %w", s, ErrCorrupt)
		}
		copy(dst[lo-objOff:hi-objOff], data[lo-segStart:hi-segStart])
		return nil
	}
	last := (objOff + n - 1) / crypt.SegmentSize
	for s := objOff / crypt.SegmentSize; s <= last; {
		if ent := fs.cache.use(segKey{e.Object, s}); ent != nil {
			data, err := ent.wait(ctx)
			if err == nil {
				err = put(s, data)
				fs.cache.release(ent)
				if err != nil {
					return err
				}
				s++
				continue
			}
			fs.cache.release(ent)
			if ctx.Err() != nil {
				return err
			}
			// The other fetch failed: try again ourselves.
		}
		end := s + 1
		for end <= last && !fs.cache.has(segKey{e.Object, end}) {
			end++
		}
		from := s * crypt.SegmentSize
		segs, buf, err := fs.getSegments(ctx, e.Object, objSize, from, min((end-s)*crypt.SegmentSize, objSize-from))
		if err != nil {
			return err
		}
		if int64(len(segs)) != end-s {
			err = fmt.Errorf("%d of %d segments: %w", len(segs), end-s, ErrCorrupt)
		}
		for i, data := range segs {
			if err == nil {
				err = put(s+int64(i), data)
			}
		}
		fs.cache.fetched(buf) // not cached: nothing else reads it
		if err != nil {
			return err
		}
		s = end
	}
	return nil
}
