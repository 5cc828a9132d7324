package fs

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
}

// segBuf is one range request's buffer, which holds the plaintext of
// every segment of its run (decrypted in place). It stays in memory while
// any of them is cached, so the cache counts the whole buffer from the
// first of its segments cached to the last one evicted: a segment kept
// alone cannot hide the rest of its buffer from the limit.
type segBuf struct {
	size int64 // bytes
	live int   // segments of it in the cache
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
}

func newSegCache(limit int64) *segCache {
	return &segCache{limit: limit, entries: make(map[segKey]*segEntry), lru: list.New()}
}

// lookup returns the entry for k. If none exists it registers a pending
// entry and returns owner=true: the caller must fetch and call fill.
func (c *segCache) lookup(k segKey) (e *segEntry, owner bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil {
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		return e, false
	}
	e = &segEntry{key: k, done: make(chan struct{})}
	c.entries[k] = e
	return e, true
}

// fill completes a pending entry with data, which lives in buf. Failed
// fetches are not cached: the next read tries again.
func (c *segCache) fill(e *segEntry, data []byte, buf *segBuf, err error) {
	c.mu.Lock()
	e.data, e.err = data, err
	if err != nil {
		delete(c.entries, e.key)
	} else {
		e.elem, e.buf = c.lru.PushFront(e), buf
		if buf.live++; buf.live == 1 {
			c.size += buf.size
		}
		c.evict()
	}
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
		if e.buf.live--; e.buf.live == 0 {
			c.size -= e.buf.size
		}
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

// peek returns the entry for k, cached or being fetched, or nil; it does
// not register a fetch nor count as a use.
func (c *segCache) peek(k segKey) *segEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k]
}
