package meta

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
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
		n := t.ins.node(ino)
		if n == nil || next.ins.node(ino) != nil || !n.attr.IsRegular() {
			continue
		}
		a := n.attr
		a.Nlink = 0
		c := next.ins.insert(ino, a)
		ext := t.ins.extents(n)
		next.ins.setExtents(c, ext)
		if x := t.ins.xattrs[ino]; len(x) > 0 {
			next.ins.xattrs[ino] = cloneXattrs(x)
		}
		next.count(a, 1)
		for _, e := range ext {
			next.ref(e, 1)
		}
		next.next = max(next.next, ino+1)
	}
	t.ins, next.ins = next.ins, t.ins
	t.next, next.next = next.next, t.next
	t.files, next.files = next.files, t.files
	t.dirs, next.dirs = next.dirs, t.dirs
	t.bytes, next.bytes = next.bytes, t.bytes
	t.refs, next.refs = next.refs, t.refs
	t.content, next.content = next.content, t.content
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

// Follower loads the newest commit of a vault again and again, for a
// read-only mount that follows the writer. When the new head builds on
// the same snapshot and extends the journal it loaded last, only the new
// journal batches are fetched and applied (to a copy of the last tree),
// verified exactly as Open verifies them, chained to the last batch it
// applied; otherwise it loads the whole chain.
//
// Trees it returns keep unlinked inodes (nlink 0) instead of dropping them
// as Open does: later batches of the writer may still name them. They have
// no names, so only a holder of their inode number sees them.
type Follower struct {
	s    remote.Store
	k    *crypt.Keys
	head *headRecord // the commit the last tree was loaded from; nil before
	peek *headRecord // the head the last Peek read
	// Batches counts the journal batches fetched and applied on top of
	// a previous tree instead of a full load; Loads counts full loads.
	Batches, Loads int
}

// NewFollower returns a Follower of the vault in s; its first Load loads
// the whole chain. A Follower is for one goroutine at a time.
func NewFollower(s remote.Store, k *crypt.Keys) *Follower {
	return &Follower{s: s, k: k}
}

// Peek reads and opens the current head, for Load.
func (f *Follower) Peek(ctx context.Context) (Head, error) {
	h, _, _, err := readHead(ctx, f.s, f.k)
	if err != nil {
		return Head{}, fmt.Errorf("meta: follow: %w", err)
	}
	f.peek = h
	return h.public(), nil
}

// Load loads the commit the last Peek read. cur must be the tree the
// previous Load returned (it is only read; the caller may have released
// unlinked inodes in it), or nil. Failures wrap crypt.ErrAuth for
// tampering and remote.ErrNotFound for missing objects, like Open.
func (f *Follower) Load(ctx context.Context, cur *Tree) (*Tree, error) {
	h := f.peek
	if h == nil {
		return nil, errors.New("meta: follow: Load without Peek")
	}
	if f.head != nil && cur != nil && extends(f.head, h) {
		t, err := f.applyNew(ctx, cur, h)
		if err == nil {
			f.head = h
			return t, nil
		}
		// A base the batches do not fit (the caller released an inode
		// the writer still names) is not tampering: load everything.
		if ctx.Err() != nil {
			return nil, fmt.Errorf("meta: follow: %w", err)
		}
	}
	t, err := f.loadAll(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("meta: follow: %w", err)
	}
	f.head = h
	return t, nil
}

// extends reports whether head h builds on old's snapshot and journal.
func extends(old, h *headRecord) bool {
	return h.snapshot == old.snapshot && len(h.journal) >= len(old.journal) &&
		slices.Equal(h.journal[:len(old.journal)], old.journal)
}

// applyNew applies the journal batches h has beyond f.head to a copy of cur.
func (f *Follower) applyNew(ctx context.Context, cur *Tree, h *headRecord) (*Tree, error) {
	t := cur.clone()
	prev := f.head.snapshot.hash
	if n := len(f.head.journal); n > 0 {
		prev = f.head.journal[n-1].hash
	}
	l := &Log{s: f.s, k: f.k}
	for _, r := range h.journal[len(f.head.journal):] {
		if _, _, err := l.load(ctx, t, crypt.KindJournal, r, prev); err != nil {
			return nil, err
		}
		prev = r.hash
		f.Batches++
	}
	if err := t.finishLoad(h.nextIno, false); err != nil {
		return nil, fmt.Errorf("%w: %w", crypt.ErrAuth, err)
	}
	return t, nil
}

// loadAll loads h's whole chain without dropping unlinked inodes.
func (f *Follower) loadAll(ctx context.Context, h *headRecord) (*Tree, error) {
	l := &Log{s: f.s, k: f.k}
	t := newEmptyTree(f.k.ChunkSize)
	prev := h.snapshot.hash
	for i, r := range append([]ref{h.snapshot}, h.journal...) {
		kind := crypt.KindJournal
		if i == 0 {
			kind = crypt.KindSnapshot
		}
		if _, _, err := l.load(ctx, t, kind, r, prev); err != nil {
			return nil, err
		}
		prev = r.hash
	}
	if err := t.finishLoad(h.nextIno, false); err != nil {
		return nil, fmt.Errorf("%w: %w", crypt.ErrAuth, err)
	}
	f.Loads++
	return t, nil
}

// clone returns a deep copy of t without pending changes.
func (t *Tree) clone() *Tree {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return &Tree{chunk: t.chunk, ins: t.ins.clone(), next: t.next,
		files: t.files, dirs: t.dirs, bytes: t.bytes, refs: maps.Clone(t.refs),
		content: t.content.clone()}
}
