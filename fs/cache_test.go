package fs

import (
	"bytes"
	"context"
	"os"
	"sync/atomic"
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

// countingStore counts range requests.
type countingStore struct {
	remote.Store
	gets atomic.Int64
}

func (s *countingStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	s.gets.Add(1)
	return s.Store.GetRange(ctx, key, off, n)
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
			v := newVault(t, store, chunk)
			data := pattern(9, chunks*chunk-1000)
			mt := v.mount(t)
			if err := os.WriteFile(mt.path("f"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			mt.unmount(t)
			// Read-only: files are opened with direct I/O, so each read
			// reaches sealfs at the size the reader asked for.
			rd := v.mount(t, func(o *Options) { o.ReadOnly, o.ReadCache = true, tc.cache })
			store.gets.Store(0)
			f, err := os.Open(rd.path("f"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got := make([]byte, 0, len(data))
			buf := make([]byte, tc.read)
			for {
				n, err := f.Read(buf)
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
	v := newVault(t, remote.NewMemory(), testChunk)
	data := pattern(5, 3*testChunk)
	mt := v.mount(t)
	if err := os.WriteFile(mt.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	mt.unmount(t)
	mt = v.mount(t)
	f, err := os.OpenFile(mt.path("f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	patch := bytes.Repeat([]byte{0xAB}, 4096)
	if _, err := f.WriteAt(patch, testChunk+1000); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := mt.m.FS().cache
	c.mu.Lock()
	size := c.size
	c.mu.Unlock()
	if size != 0 {
		t.Errorf("read cache holds %d bytes after a rewrite, want none", size)
	}
	copy(data[testChunk+1000:], patch)
	got, err := os.ReadFile(mt.path("f"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file after the overwrite: %d bytes, %v; not what was written", len(got), err)
	}
}
