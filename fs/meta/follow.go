package meta

import (
	"maps"
	"slices"
)

// Replace makes t hold the content of next (a tree loaded from a newer
// head) in one step that no concurrent Tree call can observe halfway, and
// returns a tree holding t's previous content, so that the caller can see
// what changed. next must not be used afterwards. Both trees must have the
// same chunk size.
//
// Regular files in keep that t holds but next does not (files a read-only
// follower still has open while the writer deleted or replaced them) are
// carried over unlinked, with nlink 0, so that they stay readable until
// Release, as an open-unlinked file does on a writer.
//
// Replace is for read-only followers: pending changes of t are dropped
// (t takes next's, which are none for a loaded tree).
func (t *Tree) Replace(next *Tree, keep []Ino) (old *Tree) {
	if next == t || next.chunk != t.chunk {
		panic("meta: internal error: Replace needs a different tree of the same chunk size")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	next.mu.Lock()
	defer next.mu.Unlock()
	for _, ino := range keep {
		n := t.nodes[ino]
		if n == nil || next.nodes[ino] != nil || !n.attr.IsRegular() {
			continue
		}
		c := &node{attr: n.attr, extents: slices.Clone(n.extents), xattrs: cloneXattrs(n.xattrs)}
		c.attr.Nlink = 0
		next.nodes[ino] = c
		next.count(c, 1)
		next.next = max(next.next, ino+1)
	}
	t.nodes, next.nodes = next.nodes, t.nodes
	t.next, next.next = next.next, t.next
	t.files, next.files = next.files, t.files
	t.dirs, next.dirs = next.dirs, t.dirs
	t.bytes, next.bytes = next.bytes, t.bytes
	t.pend, next.pend = next.pend, t.pend
	return next
}

func cloneXattrs(x map[string][]byte) map[string][]byte {
	if x == nil {
		return nil
	}
	c := maps.Clone(x)
	for k, v := range c {
		c[k] = slices.Clone(v)
	}
	return c
}

// HeadKey is the store key of the commit head: followers Stat it and
// compare its ETag to notice a new commit without reading it.
const HeadKey = headKey
