package fs

import (
	"slices"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
)

// A following vault (vault.Vault.Following) swaps in a newer tree with
// each commit it follows; the kernel must then forget what it caches of
// what changed (vault.Vault.SetFollowHook calls invalidate).

// invalidate tells the kernel to drop what it caches of inodes and names
// that differ between old and the current tree. It looks only at the
// inodes the kernel holds (rawFS.known), so its cost follows the kernel's
// caches, not the vault's size. It must run without engine locks held:
// the kernel may wait for FUSE requests in flight before it answers.
func (r *rawFS) invalidate(old *meta.Tree) {
	if r.known == nil || r.server == nil {
		return
	}
	cur := r.v.Tree()
	for _, ino := range r.knownInodes() {
		was, hadIt := old.Get(ino)
		is, hasIt := cur.Get(ino)
		if hadIt != hasIt || !sameInode(was, is) {
			r.server.InodeNotify(uint64(ino), 0, 0) // attributes and cached pages
		}
		if hadIt && was.IsDir() || hasIt && is.IsDir() {
			r.invalidateNames(ino, old, cur)
		}
	}
}

// invalidateNames drops the kernel's entries (positive and negative) for
// every name of directory dir that changed between old and cur.
func (r *rawFS) invalidateNames(dir meta.Ino, old, cur *meta.Tree) {
	was := entryMap(old, dir)
	is := entryMap(cur, dir)
	for name, ino := range was {
		if is[name] != ino {
			r.server.EntryNotify(uint64(dir), name)
		}
	}
	for name := range is {
		if _, ok := was[name]; !ok {
			r.server.EntryNotify(uint64(dir), name) // a cached negative entry
		}
	}
}

func entryMap(t *meta.Tree, dir meta.Ino) map[string]meta.Ino {
	ents, err := t.ReadDir(dir)
	if err != nil {
		return nil
	}
	m := make(map[string]meta.Ino, len(ents))
	for _, e := range ents {
		m[e.Name] = e.Ino
	}
	return m
}

// sameInode reports whether a and b look the same to the kernel.
func sameInode(a, b meta.Inode) bool {
	return a.Attr == b.Attr && a.Target == b.Target && slices.Equal(a.Extents, b.Extents)
}

// openFlags are the FUSE open flags of a file opened on this mount. A
// following mount reads with direct I/O: the kernel's page cache is per
// inode, so a handle opened before the writer rewrote a file could
// otherwise be served pages of the new version (or have its reads cut at
// the new size). With direct I/O every handle reads exactly the version it
// opened, through the engine's own segment cache and read-ahead.
func openFlags(v *vault.Vault) uint32 {
	if v.Following() {
		return fuse.FOPEN_DIRECT_IO
	}
	return 0
}
