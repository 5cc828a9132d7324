package vault

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/zchunk"
	"github.com/sealfs/sealfs/fs/meta"
)

// Compression where it pays (format 4, docs/FORMAT.md "Compressed
// chunks"). With Options.Compress, a chunk's content (trailing zeros
// dropped) is first probed: its first probeSize bytes are compressed at
// the fastest level, and if that saves less than probeGain the chunk is
// sealed as it is (JPEG, MP4, sealed databases: already dense). Otherwise
// the whole content is compressed at zLevel, and the frame is kept only if
// its padded size is below the padded size of the raw content by
// probeGain too. The frame is then padded (Tail padding) and sealed like
// any chunk, under the content id of the padded frame (the bytes sealed):
// identical chunks compress to identical frames with one library version,
// so they still share one object. A later library (or level) may compress
// differently; that costs only dedup of content stored before, never
// correctness: a reader decompresses whatever frame an extent names.
//
// Compression is per chunk, never for packs of small files or parked
// partial chunks. A compressed extent cannot be read by segment: a read
// fetches and authenticates every segment of the frame (through the
// segment cache) and decompresses it in memory; the last few decompressed
// chunks (16 MiB, at least one) are kept, in memory only (inflated), for
// the reads that follow.

const (
	probeSize = 64 << 10
	// probeGain: compression must save at least 1/probeGain (10 %).
	probeGain = 10
	zLevel    = zstd.SpeedDefault
)

var (
	zProbe = sync.OnceValue(func() *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false))
		return e
	})
	zChunk = sync.OnceValue(func() *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zLevel), zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false))
		return e
	})
)

// shrinks reports whether compressing saves at least 1/probeGain: after
// is not above before less a tenth.
func shrinks(before, after int64) bool { return after <= before-before/probeGain }

// compressChunk returns the zstd frame of data (a chunk's content, trailing
// zeros dropped) when it pays: the probe says data shrinks and the padded
// frame is at least 1/probeGain below the padded raw data. Otherwise nil.
func compressChunk(data []byte, chunk int64) []byte {
	probe := data[:min(len(data), probeSize)]
	if len(probe) < 64 || !shrinks(int64(len(probe)), int64(len(zProbe().EncodeAll(probe, make([]byte, 0, len(probe)))))) {
		return nil
	}
	z := zChunk().EncodeAll(data, make([]byte, 0, len(data)/2))
	if int64(len(z)) > chunk || !shrinks(paddedSize(int64(len(data)), chunk), paddedSize(int64(len(z)), chunk)) {
		return nil
	}
	return z
}

// DecompressChunk decompresses the frame of a compressed extent e (object
// bytes [e.Offset, e.Offset+e.Stored), authenticated): at most chunk
// bytes, at least e.Length of them, else ErrCorrupt (a frame that
// authenticated but does not decode is a writer's bug, never returned as
// data). The file's bytes are the first e.Length.
func DecompressChunk(frame []byte, e meta.Extent, chunk int64) ([]byte, error) {
	out, err := zchunk.Decode(frame, e.Length, chunk)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	return out, nil
}

// inflateKey names a decompressed frame: an object and where in it.
type inflateKey struct {
	id     crypt.ObjectID
	offset uint32
	stored uint32
}

// inflated keeps the last few decompressed chunks in memory (never on
// disk), so that the reads of one chunk (the kernel reads 128 KiB at a
// time) decompress it once. Concurrent readers of one chunk share one
// fetch and decompression.
type inflated struct {
	mu      sync.Mutex
	max     int
	entries map[inflateKey]*inflateEntry
	lru     *list.List // of *inflateEntry, front = most recent
}

type inflateEntry struct {
	key  inflateKey
	done chan struct{}
	data []byte
	err  error
	elem *list.Element
}

// inflateBytes bounds the decompressed chunks kept: four at the default
// 4 MiB chunk size, one (at least) with larger chunks.
const inflateBytes = 16 << 20

func newInflated(n int) *inflated {
	return &inflated{max: n, entries: make(map[inflateKey]*inflateEntry), lru: list.New()}
}

// get returns the decompressed chunk of e, loading it with load once.
// A failed load is not kept.
func (c *inflated) get(ctx context.Context, e meta.Extent, load func() ([]byte, error)) ([]byte, error) {
	k := inflateKey{e.Object, e.Offset, e.Stored}
	c.mu.Lock()
	if en := c.entries[k]; en != nil {
		if en.elem != nil {
			c.lru.MoveToFront(en.elem)
		}
		c.mu.Unlock()
		select {
		case <-en.done:
			return en.data, en.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	en := &inflateEntry{key: k, done: make(chan struct{})}
	c.entries[k] = en
	c.mu.Unlock()
	en.data, en.err = load()
	c.mu.Lock()
	if en.err != nil {
		delete(c.entries, k)
	} else {
		en.elem = c.lru.PushFront(en)
		for c.lru.Len() > c.max {
			old := c.lru.Remove(c.lru.Back()).(*inflateEntry)
			delete(c.entries, old.key)
		}
	}
	c.mu.Unlock()
	close(en.done)
	return en.data, en.err
}

// readCompressed fills dst with chunk bytes [off, off+len(dst)) of the
// compressed extent e (off < e.Length; bytes past e.Length are zeros).
func (fs *Vault) readCompressed(ctx context.Context, e meta.Extent, off int64, dst []byte) error {
	if int64(e.Offset)+int64(e.Stored) > int64(e.ObjectSize) || e.ObjectSize > crypt.MaxObjectSize || int64(e.Length) > fs.cs {
		return fmt.Errorf("compressed extent [%d,+%d) of a %d-byte object: %w", e.Offset, e.Stored, e.ObjectSize, ErrCorrupt)
	}
	data, err := fs.inflated.get(ctx, e, func() ([]byte, error) {
		frame, err := fs.frame(ctx, e)
		if err != nil {
			return nil, err
		}
		return DecompressChunk(frame, e, fs.cs)
	})
	if err != nil {
		return err
	}
	n := copy(dst, data[off:e.Length])
	clear(dst[n:])
	return nil
}

// frame returns object bytes [e.Offset, e.Offset+e.Stored) of a
// compressed extent: every segment holding them, authenticated, through
// the segment cache.
func (fs *Vault) frame(ctx context.Context, e meta.Extent) ([]byte, error) {
	lo, hi := int64(e.Offset), int64(e.Offset)+int64(e.Stored)
	first, last := lo/crypt.SegmentSize, (hi-1)/crypt.SegmentSize
	entries, segs, err := fs.segments(ctx, e.Object, int64(e.ObjectSize), first, last, 0)
	defer fs.cache.release(entries...)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, hi-lo)
	for i, s := range segs {
		segStart := (first + int64(i)) * crypt.SegmentSize
		a, b := max(lo, segStart), min(hi, segStart+int64(len(s)))
		if b <= a {
			return nil, fmt.Errorf("segment %d is short: %w", first+int64(i), ErrCorrupt)
		}
		out = append(out, s[a-segStart:b-segStart]...)
	}
	if int64(len(out)) != hi-lo {
		return nil, fmt.Errorf("compressed frame is short: %w", ErrCorrupt)
	}
	return out, nil
}
