package vault

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// fillRun caches segments [0, n) of object id as one buffer of n×seg bytes.
func fillRun(c *segCache, id byte, n int, seg int64) *segBuf {
	buf := &segBuf{size: int64(n) * seg}
	for s := range n {
		e, owner := c.lookup(segKey{crypt.ObjectID{id}, int64(s)})
		if !owner {
			panic("segment already cached")
		}
		c.fill(e, make([]byte, seg), buf, nil)
	}
	return buf
}

// TestCacheCountsWholeBuffers: a segment kept alone still counts the whole
// buffer it keeps in memory, so the cache never holds more than its limit
// in buffers, however its segments are used.
func TestCacheCountsWholeBuffers(t *testing.T) {
	c := newSegCache(10)
	fillRun(c, 1, 4, 2)                    // 8 bytes
	c.lookup(segKey{crypt.ObjectID{1}, 3}) // used: segment 3 stays longest
	if c.size != 8 {
		t.Fatalf("size %d after one buffer of 8, want 8", c.size)
	}
	fillRun(c, 2, 2, 2) // 4 more: over the limit
	// Evicting segments 0-2 of object 1 frees nothing while segment 3
	// pins their 8-byte buffer (8 + 4 > 10), so segment 3 must go too.
	for s := range int64(4) {
		if c.has(segKey{crypt.ObjectID{1}, s}) {
			t.Errorf("segment %d of the evicted buffer kept", s)
		}
	}
	if !c.has(segKey{crypt.ObjectID{2}, 0}) || !c.has(segKey{crypt.ObjectID{2}, 1}) || c.size != 4 {
		t.Fatalf("size %d, want object 2's 4 bytes cached", c.size)
	}
}

// TestCacheDemote: a demoted segment is the first to go.
func TestCacheDemote(t *testing.T) {
	c := newSegCache(4)
	fillRun(c, 1, 1, 2)
	fillRun(c, 2, 1, 2)
	c.demote(segKey{crypt.ObjectID{2}, 0}) // read to the end by a sequential reader
	fillRun(c, 3, 1, 2)
	if c.has(segKey{crypt.ObjectID{2}, 0}) || !c.has(segKey{crypt.ObjectID{1}, 0}) {
		t.Fatal("the demoted segment was not evicted first")
	}
}

// TestCacheRecyclesBuffers: a range buffer goes back to the pool only
// once neither the cache nor any reader holds one of its segments, also
// for a reader that pinned a segment while it was still being fetched.
func TestCacheRecyclesBuffers(t *testing.T) {
	c := newSegCache(int64(2 * openPiece))
	k := func(id byte, s int64) segKey { return segKey{crypt.ObjectID{id}, s} }
	early, owner := c.lookup(k(1, 0)) // a reader waiting for the fetch
	if !owner {
		t.Fatal("empty cache: not the owner")
	}
	late := c.reserve(k(1, 1)) // read-ahead: nobody pinned
	buf := c.getBuf(openPiece)
	c.fill(early, buf.blocks[0][:1], buf, nil)
	c.fill(late, buf.blocks[0][1:2], buf, nil)
	c.fetched(buf)
	reader := c.use(k(1, 1)) // a reader copying segment 1
	// Two more buffers evict both segments of the first.
	for id := byte(2); id <= 3; id++ {
		e := c.reserve(k(id, 0))
		b := c.getBuf(openPiece)
		c.fill(e, b.blocks[0][:1], b, nil)
		c.fetched(b)
	}
	if c.has(k(1, 0)) || c.has(k(1, 1)) {
		t.Fatal("object 1 still cached")
	}
	if buf.blocks == nil {
		t.Fatal("buffer recycled while two readers hold its segments")
	}
	c.release(early)
	if buf.blocks == nil {
		t.Fatal("buffer recycled while a reader holds a segment")
	}
	c.release(reader)
	if buf.blocks != nil || buf.refs != 0 {
		t.Fatalf("buffer not recycled after the last reader (refs %d)", buf.refs)
	}
	// A failed fetch: its pinned reader releases nothing.
	failed, _ := c.lookup(k(4, 0))
	c.fill(failed, nil, nil, ErrCorrupt)
	c.release(failed)
	if c.has(k(4, 0)) {
		t.Fatal("a failed fetch was cached")
	}
}

// TestCacheCountsFetches: a buffer counts from the start of its range
// request (read-ahead in flight is memory too, and the mount's memory
// limit is tight), making room by eviction; a fetch that caches nothing
// leaves free blocks when it ends, which still count until a request
// takes them (before any fresh memory) or room is needed (before any
// cached segment), and one that caches segments counts until the last
// is evicted.
func TestCacheCountsFetches(t *testing.T) {
	c := newSegCache(int64(3 * openPiece))
	k := func(id byte, s int64) segKey { return segKey{crypt.ObjectID{id}, s} }
	old := c.getBuf(openPiece)
	e := c.reserve(k(1, 0))
	c.fill(e, old.blocks[0][:1], old, nil)
	c.fetched(old)
	a, b := c.getBuf(openPiece), c.getBuf(openPiece)
	if c.size != 3*openPiece || !c.has(k(1, 0)) {
		t.Fatalf("size %d with one cached and two fetching buffers, want %d", c.size, 3*openPiece)
	}
	d := c.getBuf(openPiece) // a fourth: the cached one makes room
	if c.has(k(1, 0)) || c.size != 3*openPiece || c.made != 3 {
		t.Fatalf("size %d, cached segment kept: %v, %d blocks made (want 3: the evicted one's is used again)", c.size, c.has(k(1, 0)), c.made)
	}
	c.fetched(a) // failed: nothing cached, its block is free
	if c.size != 3*openPiece || len(c.free) != 1 {
		t.Fatalf("size %d, %d free blocks after a failed fetch, want %d and 1", c.size, len(c.free), 3*openPiece)
	}
	e = c.reserve(k(2, 0))
	c.fill(e, b.blocks[0][:1], b, nil)
	c.fetched(b)
	c.fetched(d)
	if c.size != 3*openPiece || !c.has(k(2, 0)) || len(c.free) != 2 {
		t.Fatalf("size %d, %d free, want the one cached buffer and two free blocks", c.size, len(c.free))
	}
	small := c.getBuf(100) // its own memory: a free block makes room
	if !c.has(k(2, 0)) || len(c.free) != 1 || c.size != 2*openPiece+100 {
		t.Fatalf("size %d, %d free, cached segment kept: %v", c.size, len(c.free), c.has(k(2, 0)))
	}
	c.fetched(small)
	big := c.getBuf(3 * openPiece) // the free block, one fresh (room left), then the cached one's
	if c.has(k(2, 0)) || c.made != 4 || c.size != 3*openPiece || len(c.free) != 0 {
		t.Fatalf("size %d, %d free, %d made, cached segment kept: %v", c.size, len(c.free), c.made, c.has(k(2, 0)))
	}
	c.fetched(big)
}

// TestCacheRecycleConcurrentReads: many readers of random ranges of a file
// through a read cache of two chunks (segments evicted and buffers reused
// all the time) read exactly what was written (-race checks that no
// buffer is reused while a reader copies from it).
func TestCacheRecycleConcurrentReads(t *testing.T) {
	const chunk, chunks = 512 << 10, 12
	tv := newVault(t, remote.NewMemory(), chunk)
	data := pattern(11, chunks*chunk-3000)
	w := tv.open(t)
	ok(t, w.writeFile("f", data))
	w.close(t)
	rd := tv.open(t, func(o *Options) { o.ReadOnly, o.ReadCache = true, 2*chunk })
	in, err := rd.lookupPath("f")
	ok(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 8 {
		wg.Go(func() {
			f, err := rd.OpenFile(in.Ino, syscall.O_RDONLY)
			if err != nil {
				errs <- err
				return
			}
			defer f.Release()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			buf := make([]byte, 300<<10)
			for range 40 {
				off := rng.Int64N(int64(len(data)))
				n, err := f.ReadAt(context.Background(), buf[:rng.IntN(len(buf))+1], off)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
					errs <- fmt.Errorf("reader %d: wrong bytes at %d+%d", r, off, n)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// countingStore counts range requests.
type countingStore struct {
	remote.Store
	gets atomic.Int64
}

func (s *countingStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	s.gets.Add(1)
	return s.Store.GetRange(ctx, key, off, n)
}

func (s *countingStore) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	s.gets.Add(1)
	return s.Store.OpenRange(ctx, key, off, n)
}

// TestSeqReadWholeChunks: a cold sequential read of a file fetches it in
// about one request per chunk (a few smaller ones while the read-ahead
// window opens), reads every byte right, and downloads nothing twice, also
// in small reads through a cache a quarter of the file's size (read-ahead
// must not be evicted before it is read).
func TestSeqReadWholeChunks(t *testing.T) {
	const chunk, chunks = 2 << 20, 16
	for _, tc := range []struct {
		name  string
		read  int
		cache int64
	}{
		{"128KiB reads", 128 << 10, 0},
		{"8KiB reads, small cache", 8 << 10, chunks * chunk / 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &countingStore{Store: remote.NewMemory()}
			tv := newVault(t, store, chunk)
			data := pattern(9, chunks*chunk-1000)
			w := tv.open(t)
			ok(t, w.writeFile("f", data))
			w.close(t)
			// Each read reaches the engine at the size the reader asked for
			// (as with direct I/O through FUSE).
			rd := tv.open(t, func(o *Options) { o.ReadOnly, o.ReadCache = true, tc.cache })
			store.gets.Store(0)
			in, err := rd.lookupPath("f")
			ok(t, err)
			f, err := rd.OpenFile(in.Ino, syscall.O_RDONLY)
			ok(t, err)
			defer f.Release()
			got := make([]byte, 0, len(data))
			buf := make([]byte, tc.read)
			for {
				n, err := f.ReadAt(context.Background(), buf, int64(len(got)))
				got = append(got, buf[:n]...)
				if n == 0 || err != nil {
					break
				}
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, not the %d written", len(got), len(data))
			}
			n := store.gets.Load()
			t.Logf("%d range requests for %d chunks", n, chunks)
			if n > chunks+8 {
				t.Errorf("%d range requests for a %d-chunk file, want about one per chunk", n, chunks)
			}
		})
	}
}

// TestRewriteBypassesCache: a small overwrite of a published chunk reads
// the old chunk without filling the read cache, and the file is right.
func TestRewriteBypassesCache(t *testing.T) {
	tv := newVault(t, remote.NewMemory(), testChunk)
	data := pattern(5, 3*testChunk)
	w := tv.open(t)
	ok(t, w.writeFile("f", data))
	w.close(t)
	w = tv.open(t)
	in, err := w.lookupPath("f")
	ok(t, err)
	f, err := w.OpenFile(in.Ino, syscall.O_WRONLY)
	ok(t, err)
	patch := bytes.Repeat([]byte{0xAB}, 4096)
	_, err = f.WriteAt(context.Background(), patch, testChunk+1000)
	ok(t, err)
	ok(t, f.Fsync(context.Background()))
	ok(t, f.Flush())
	f.Release()
	c := w.Vault.cache
	c.mu.Lock()
	size, cached := c.size-int64(len(c.free))*openPiece, c.lru.Len() // free blocks hold nothing
	c.mu.Unlock()
	if size != 0 || cached != 0 {
		t.Errorf("read cache holds %d bytes, %d segments after a rewrite, want none", size, cached)
	}
	copy(data[testChunk+1000:], patch)
	got, err := w.readFile("f")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file after the overwrite: %d bytes, %v; not what was written", len(got), err)
	}
}

// TestCacheReusesBlocks: a cold read of a folder of files of every size
// (range requests of a different number of segments nearly every time,
// with garbage collections between them, as the mount's memory limit
// makes frequent) reads into memory it used before: once the cache is
// full, a new request takes the blocks of the buffers it evicted instead
// of allocating, zeroing and faulting in fresh ones.
func TestCacheReusesBlocks(t *testing.T) {
	const limit = 16 << 20
	c := newSegCache(limit)
	rng := rand.New(rand.NewPCG(1, 2))
	var requested int64
	run := func(from, to int) {
		for i := from; i < to; i++ {
			segs := 4 + rng.Int64N(61)                          // 4-64 segments: 256 KiB to a chunk
			n := segs*cipherSeg - rng.Int64N(crypt.SegmentSize) // a short last segment
			e := c.reserve(segKey{crypt.ObjectID{byte(i), byte(i >> 8)}, 0})
			buf := c.getBuf(n)
			var got int64
			for _, b := range buf.blocks {
				got += int64(len(b))
			}
			if got != n {
				t.Fatalf("request of %d bytes got %d", n, got)
			}
			c.fill(e, buf.blocks[0][:1], buf, nil)
			c.fetched(buf)
			requested += n
			if i%10 == 0 {
				runtime.GC()
			}
		}
	}
	run(0, 40) // fills the cache
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	requested = 0
	made := c.made
	run(40, 240)
	runtime.ReadMemStats(&after)
	t.Logf("blocks made %d", c.made-made)
	if alloc := int64(after.TotalAlloc - before.TotalAlloc); alloc > requested/20 {
		t.Fatalf("allocated %d MiB for %d MiB of range requests into a full cache (want under a twentieth)", alloc>>20, requested>>20)
	}
	if c.size > limit {
		t.Fatalf("cache holds %d bytes, limit %d", c.size, limit)
	}
}
