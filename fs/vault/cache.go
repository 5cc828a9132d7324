package vault

import (
	"container/list"
	"context"
	"sync"

	"github.com/sealfs/sealfs/crypt"
)

// segKey names one 64 KiB plaintext segment of one object.
type segKey struct {
	id  crypt.ObjectID
	seg int64
}

// segEntry is a cached segment, or one being fetched (done not closed yet).
type segEntry struct {
	key  segKey
	done chan struct{}
	data []byte // plaintext, valid after done if err == nil
	err  error
	buf  *segBuf       // the buffer data lives in, shared with its run
	elem *list.Element // position in the LRU list once filled

	filled  bool // fill ran (guarded by the cache's mu, like waiting)
	waiting int  // readers that pinned it before fill: each holds buf once filled
}

// segBuf is one range request's buffer, which holds the plaintext of
// every segment of its run (decrypted in place). It stays in memory while
// any of them is cached, so the cache counts the whole buffer from the
// moment its range request starts (a buffer being filled is memory too:
// read-ahead keeps up to half the cache's worth in flight) until its
// fetch is over and the last of its segments is evicted: a segment kept
// alone cannot hide the rest of its buffer from the limit.
//
// Its blocks become free blocks of the cache once nothing holds it: not
// the cache (live segments), not a reader still copying from one of its
// segments, nor the fetch filling it. A reader pins an entry (lookup,
// use) before it reads the entry's data and releases it when done
// copying.
type segBuf struct {
	size     int64    // bytes
	live     int      // segments of it in the cache
	fetching bool     // its range request is not over (getBuf until fetched)
	counted  bool     // its size is in the cache's size
	refs     int      // live segments + readers holding its segments + its fetch
	blocks   [][]byte // the buffer (getBuf), free blocks once refs drops to 0
}

// segCache keeps decrypted segments in memory (never on disk), bounded by
// the bytes of the buffers they keep alive, least recently used first out. Concurrent misses of the same
// segment share one fetch.
type segCache struct {
	mu      sync.Mutex
	limit   int64
	size    int64
	entries map[segKey]*segEntry
	lru     *list.List // of *segEntry, front = most recent
	free    [][]byte   // blocks no buffer holds, counted in size (getBuf takes them first, evict drops them first)
	made    int64      // blocks allocated, ever (tests)
}

func newSegCache(limit int64) *segCache {
	return &segCache{limit: limit, entries: make(map[segKey]*segEntry), lru: list.New()}
}

// lookup returns the entry for k, pinned for reading: the caller must
// release it once it no longer reads its data (also after an error). If
// none exists it registers a pending entry and returns owner=true: the
// caller must fetch and call fill.
func (c *segCache) lookup(k segKey) (e *segEntry, owner bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil {
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		c.pin(e)
		return e, false
	}
	e = &segEntry{key: k, done: make(chan struct{}), waiting: 1}
	c.entries[k] = e
	return e, true
}

// reserve registers a pending entry for k and returns it, not pinned (a
// read-ahead fetches it for later readers), or nil if k is cached or
// being fetched.
func (c *segCache) reserve(k segKey) *segEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[k] != nil {
		return nil
	}
	e := &segEntry{key: k, done: make(chan struct{})}
	c.entries[k] = e
	return e
}

// use returns the entry for k, cached or being fetched, pinned like
// lookup's, or nil; it does not register a fetch nor count as a use.
func (c *segCache) use(k segKey) *segEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e != nil {
		c.pin(e)
	}
	return e
}

func (c *segCache) pin(e *segEntry) {
	if e.buf != nil {
		e.buf.refs++
	} else if !e.filled {
		e.waiting++
	}
}

// release unpins entries that lookup or use returned: their data must no
// longer be read.
func (c *segCache) release(es ...*segEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range es {
		switch {
		case e.buf != nil:
			c.unref(e.buf)
		case !e.filled:
			e.waiting--
		}
	}
	c.evict() // a buffer released into free blocks may go over the limit
}

// getBuf returns a buffer of n bytes for a range request, counted in the
// cache's size and held by the fetch until it calls fetched. Its blocks
// (see blocksSize) are free blocks first, then blocks that evicting the
// least recently used segments frees, and only then fresh memory, so a
// full cache reads into memory it used before: a pool of buffers by size
// (until December 2026) found one of the right size rarely, since a cold
// read of a folder of photos asks for a different number of segments
// nearly every time, and its sync.Pool was emptied by every other garbage
// collection, which the mount's memory limit makes frequent; each miss
// cost an allocation the runtime zeroes and the kernel faults in
// (docs/PERFORMANCE.md, "Read buffers used again").
func (c *segCache) getBuf(n int64) *segBuf {
	buf := &segBuf{size: blocksSize(n), fetching: true, counted: true, refs: 1}
	if n < openPiece {
		c.mu.Lock()
		c.size += n
		c.evict()
		c.mu.Unlock()
		buf.blocks = [][]byte{make([]byte, n)}
		return buf
	}
	nb := int((n + openPiece - 1) / openPiece)
	blocks := make([][]byte, 0, nb)
	fresh := 0
	c.mu.Lock()
	for len(blocks)+fresh < nb {
		if k := len(c.free); k > 0 {
			blocks = append(blocks, c.free[k-1]) // counted already
			c.free[k-1] = nil
			c.free = c.free[:k-1]
		} else if c.size+openPiece <= c.limit || !c.evictOne() {
			fresh++
			c.size += openPiece
		}
	}
	c.made += int64(fresh)
	c.mu.Unlock()
	for range fresh {
		b := make([]byte, openPiece)
		prefault(b)
		blocks = append(blocks, b)
	}
	blocks[nb-1] = blocks[nb-1][:n-int64(nb-1)*openPiece]
	buf.blocks = blocks
	return buf
}

// fetched ends buf's fetch, once it has filled its entries (or failed):
// unless segments of it are cached, it no longer counts, and it goes back
// to the pool once no reader holds it either.
func (c *segCache) fetched(buf *segBuf) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf.fetching = false
	c.uncountIdle(buf)
	c.unref(buf)
	c.evict()
}

// uncountIdle takes buf out of the cache's size if nothing of it is cached
// and its fetch is over.
func (c *segCache) uncountIdle(buf *segBuf) {
	if buf.counted && buf.live == 0 && !buf.fetching {
		buf.counted = false
		c.size -= buf.size
	}
}

func (c *segCache) unref(buf *segBuf) {
	if buf.refs--; buf.refs == 0 && buf.blocks != nil {
		for _, b := range buf.blocks {
			if cap(b) == openPiece {
				c.free = append(c.free, b[:openPiece])
				c.size += openPiece
			}
		}
		buf.blocks = nil
	}
}

// fill completes a pending entry with data, which lives in buf. Failed
// fetches are not cached: the next read tries again.
func (c *segCache) fill(e *segEntry, data []byte, buf *segBuf, err error) {
	c.mu.Lock()
	e.data, e.err, e.filled = data, err, true
	if err != nil {
		delete(c.entries, e.key)
	} else {
		e.elem, e.buf = c.lru.PushFront(e), buf
		buf.refs += 1 + e.waiting // the cache's hold and the pinned readers'
		buf.live++
		if !buf.counted {
			buf.counted = true
			c.size += buf.size
		}
		c.evict()
	}
	e.waiting = 0
	c.mu.Unlock()
	close(e.done)
}

// evict makes the cache fit its limit: free blocks go first, then the
// least recently used segments.
func (c *segCache) evict() {
	for c.size > c.limit {
		if k := len(c.free); k > 0 {
			c.free[k-1] = nil // to the garbage collector
			c.free = c.free[:k-1]
			c.size -= openPiece
		} else if !c.evictOne() {
			return
		}
	}
}

// evictOne drops the least recently used segment; false if none is
// cached. The blocks of a buffer it leaves unused become free blocks.
func (c *segCache) evictOne() bool {
	back := c.lru.Back()
	if back == nil {
		return false
	}
	e := back.Value.(*segEntry)
	c.lru.Remove(back)
	delete(c.entries, e.key)
	e.buf.live--
	c.uncountIdle(e.buf)
	c.unref(e.buf)
	return true
}

// wait blocks until e is filled.
func (e *segEntry) wait(ctx context.Context) ([]byte, error) {
	select {
	case <-e.done:
		return e.data, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// has reports whether k is cached or being fetched.
func (c *segCache) has(k segKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k] != nil
}

// demote moves k, if cached, to the least recently used end: it goes
// first when room is needed.
func (c *segCache) demote(k segKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil && e.elem != nil {
		c.lru.MoveToBack(e.elem)
	}
}

// cipherSeg is one cipher segment's size in an object.
const cipherSeg = crypt.SegmentSize + crypt.SegmentOverhead

// blocksSize is the memory a buffer of n bytes from getBuf takes. A range
// request's buffer is a list of blocks of openPiece bytes (four cipher
// segments; the last block only as long as the rest of the request), so
// that any buffer's blocks serve any later request whatever its size; a
// request smaller than a block gets a buffer of its own.
func blocksSize(n int64) int64 {
	if n < openPiece {
		return n
	}
	return (n + openPiece - 1) / openPiece * openPiece
}
