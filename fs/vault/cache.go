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
// The buffer is recycled (bufPool) once nothing holds it: not the cache
// (live segments), not a reader still copying from one of its segments,
// nor the fetch filling it. A reader pins an entry (lookup, use) before it
// reads the entry's data and releases it when done copying.
type segBuf struct {
	size     int64  // bytes
	live     int    // segments of it in the cache
	fetching bool   // its range request is not over (getBuf until fetched)
	counted  bool   // its size is in the cache's size
	refs     int    // live segments + readers holding its segments + its fetch
	b        []byte // the buffer, handed back to the pool when refs drops to 0
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
	bufs    bufPool    // range request buffers, recycled
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
}

// getBuf returns a buffer of n bytes for a range request, from the pool,
// counted in the cache's size (evicting to make room) and held by the
// fetch until it calls fetched.
func (c *segCache) getBuf(n int64) *segBuf {
	b := c.bufs.get(n)
	buf := &segBuf{size: int64(cap(b)), fetching: true, counted: true, refs: 1, b: b}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.size += buf.size
	c.evict()
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
	if buf.refs--; buf.refs == 0 && buf.b != nil {
		c.bufs.put(buf.b)
		buf.b = nil
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

func (c *segCache) evict() {
	for c.size > c.limit {
		back := c.lru.Back()
		if back == nil {
			return
		}
		e := back.Value.(*segEntry)
		c.lru.Remove(back)
		delete(c.entries, e.key)
		e.buf.live--
		c.uncountIdle(e.buf)
		c.unref(e.buf)
	}
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

// bufPool recycles range request buffers, so that a cold read does not
// allocate (and the runtime zero, and the kernel fault in) a fresh 4 MiB
// buffer per GET. Buffers are pooled by size class, a whole number of
// cipher segments (a chunk's span is one class); small ones are not pooled.
type bufPool struct {
	mu    sync.Mutex
	pools map[int64]*sync.Pool // by segments per buffer
}

const (
	cipherSeg = crypt.SegmentSize + crypt.SegmentOverhead
	// pooledMin is the smallest pooled buffer: 4 segments.
	pooledMin = 4 * cipherSeg
)

func (p *bufPool) class(segs int64) *sync.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pools == nil {
		p.pools = make(map[int64]*sync.Pool)
	}
	sp := p.pools[segs]
	if sp == nil {
		sp = new(sync.Pool)
		p.pools[segs] = sp
	}
	return sp
}

// get returns a buffer of n bytes; its contents are unspecified.
func (p *bufPool) get(n int64) []byte {
	if n < pooledMin {
		return make([]byte, n)
	}
	segs := (n + cipherSeg - 1) / cipherSeg
	if b, ok := p.class(segs).Get().(*[]byte); ok {
		return (*b)[:n]
	}
	b := make([]byte, n, segs*cipherSeg)
	prefault(b[:cap(b)])
	return b[:n]
}

// put hands b back; nothing may use it afterwards.
func (p *bufPool) put(b []byte) {
	c := int64(cap(b))
	if c < pooledMin || c%cipherSeg != 0 {
		return
	}
	b = b[:0]
	p.class(c / cipherSeg).Put(&b)
}
