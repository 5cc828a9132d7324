package meta

import "github.com/sealfs/sealfs/crypt"

// refs counts, for every data object, the extents of the tree (committed
// and pending alike) that reference it: the index a format-3 writer looks
// up to store identical content once (an object the tree references is in
// the store or on its way there), and the test of whether publishing a
// reference to an existing object keeps it reachable (SetFileDataShared).
// A map entry costs about 40 bytes per distinct object; small files share
// their pack's entry. Kept up to date by apply, so loading, following and
// replaying pending ops all maintain it. The caller holds t.mu.
func (t *Tree) ref(e Extent, d int32) {
	if e.IsHole() {
		return
	}
	if n := t.refs[e.Object] + d; n > 0 {
		t.refs[e.Object] = n
	} else {
		delete(t.refs, e.Object)
	}
}

// Referenced reports whether an extent of the tree references object id.
func (t *Tree) Referenced(id crypt.ObjectID) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.refs[id] > 0
}

// Objects returns the number of distinct data objects the tree references.
func (t *Tree) Objects() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.refs)
}

// contentRef is where the bytes with one content id are: a part of a
// shared object (format 3, Extent.Content). 28 bytes a value.
type contentRef struct {
	object               crypt.ObjectID
	size, offset, length uint32
}

// noteContent indexes the content id of extent e, if it has one. Entries
// are never removed when the extent goes: one is valid for as long as its
// object is referenced (ContentExtent checks), which a later extent of
// the same object may keep true. The caller holds t.mu.
func (t *Tree) noteContent(e Extent) {
	if e.Content.IsZero() || e.IsHole() {
		return
	}
	if t.content == nil {
		t.content = make(map[crypt.ObjectID]contentRef)
	}
	t.content[e.Content] = contentRef{object: e.Object, size: e.ObjectSize, offset: e.Offset, length: e.Length}
}

// ContentExtent returns an extent of bytes whose content id is id, in an
// object the tree references (so it is in the store, or on its way there),
// if the tree has one.
func (t *Tree) ContentExtent(id crypt.ObjectID) (Extent, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	c, ok := t.content[id]
	if !ok || t.refs[c.object] == 0 {
		return Extent{}, false
	}
	return Extent{Object: c.object, ObjectSize: c.size, Offset: c.offset, Length: c.length, Content: id}, true
}

// pruneContent drops the index entries whose object no extent references
// any more (after a load, which may apply many changes). The caller holds
// t.mu.
func (t *Tree) pruneContent() {
	for id, c := range t.content {
		if t.refs[c.object] == 0 {
			delete(t.content, id)
		}
	}
}
