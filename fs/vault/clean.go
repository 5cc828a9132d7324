package vault

import (
	"sync"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// cleanChunks keeps the plaintext of the last few uploaded chunk versions
// that rewrote published content (a database's pages, a file patched in
// place), so that the next partial write to the same chunk copies it from
// memory instead of downloading and decrypting the object it just
// uploaded. A small SQLite database rewrites the same chunk on every
// transaction: without this each transaction downloaded its own previous
// upload (docs/PERFORMANCE.md measured 86 % fewer bytes down).
//
// The kept buffers stay charged to the write budget and are given back
// first when a writer waits for memory (FS.waitForMemory), so they never
// hold back a write; they are plaintext in memory only, like every write
// buffer.
type cleanChunks struct {
	budget *budget

	mu   sync.Mutex
	ents []cleanChunk // oldest first
}

// maxCleanChunks bounds the chunks kept (4 × 4 MiB at defaults).
const maxCleanChunks = 4

type cleanChunk struct {
	key     cleanKey
	data    []byte // the version's plaintext, frozen: never written again
	charged int64
}

type cleanKey struct {
	id  crypt.ObjectID
	off uint32 // the extent's offset in a shared object
}

// keep takes over data and its charged budget bytes as the content of
// extent e; the oldest kept chunk is given back beyond maxCleanChunks.
func (c *cleanChunks) keep(e meta.Extent, data []byte, charged int64) {
	if int64(len(data)) < int64(e.Length) {
		c.budget.release(charged)
		return
	}
	c.mu.Lock()
	c.ents = append(c.ents, cleanChunk{key: cleanKey{e.Object, e.Offset}, data: data, charged: charged})
	var freed int64
	for len(c.ents) > maxCleanChunks {
		freed += c.ents[0].charged
		c.ents[0] = cleanChunk{}
		c.ents = c.ents[1:]
	}
	c.mu.Unlock()
	c.budget.release(freed)
}

// get returns the first n bytes of extent e's content if they are kept.
// The slice must not be written to.
func (c *cleanChunks) get(e meta.Extent, n int64) ([]byte, bool) {
	if e.IsHole() || n > int64(e.Length) {
		return nil, false
	}
	k := cleanKey{e.Object, e.Offset}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ent := range c.ents {
		if ent.key == k {
			return ent.data[:n], true
		}
	}
	return nil, false
}

// read copies bytes [off, off+len(dst)) of extent e's content into dst if
// they are kept; it reports whether they were.
func (c *cleanChunks) read(e meta.Extent, off int64, dst []byte) bool {
	end := off + int64(len(dst))
	if e.IsHole() || off < 0 || end > int64(e.Length) {
		return false
	}
	k := cleanKey{e.Object, e.Offset}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ent := range c.ents {
		if ent.key == k {
			copy(dst, ent.data[off:end])
			return true
		}
	}
	return false
}

// has reports whether extent e's content is kept.
func (c *cleanChunks) has(e meta.Extent) bool {
	return c.read(e, 0, nil)
}

// release gives every kept chunk's memory back.
func (c *cleanChunks) release() {
	c.mu.Lock()
	var freed int64
	for _, ent := range c.ents {
		freed += ent.charged
	}
	c.ents = nil
	c.mu.Unlock()
	c.budget.release(freed)
}
