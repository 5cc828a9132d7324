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
