package fs

import (
	"slices"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
)

// A following vault (vault.Vault.Following) swaps in a newer tree with
// each commit it follows; the kernel must then forget what it caches of
// what changed (vault.Vault.SetFollowHook calls invalidate).

// invalidate tells the kernel to drop what it caches of inodes and names
// that differ between old and the current tree. It walks only the inodes
// the kernel knows (go-fuse's tree), so its cost follows the kernel's
// caches, not the vault's size. It must run without engine locks held:
// the kernel may wait for FUSE requests in flight before it answers.
func invalidate(v *vault.Vault, root *gofs.Inode, old *meta.Tree) {
	seen := make(map[meta.Ino]bool)
	stack := []*gofs.Inode{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		node, ok := n.Operations().(*Node)
		if !ok || seen[node.ino] {
			continue
		}
		seen[node.ino] = true
		was, hadIt := old.Get(node.ino)
		is, hasIt := v.Tree().Get(node.ino)
		if hadIt != hasIt || !sameInode(was, is) {
			n.NotifyContent(0, 0) // attributes and cached pages
		}
		children := n.Children()
		if n.IsDir() {
			invalidateNames(v, n, node.ino, old, children)
		}
		for _, c := range children {
			stack = append(stack, c)
		}
	}
}

// invalidateNames drops the kernel's entries (positive and negative) for
// every name of directory dir that changed, and forgets go-fuse's children
// whose names went elsewhere, so that paths stay right.
func invalidateNames(v *vault.Vault, n *gofs.Inode, dir meta.Ino, old *meta.Tree, children map[string]*gofs.Inode) {
	was := entryMap(old, dir)
	is := entryMap(v.Tree(), dir)
	done := make(map[string]bool)
	for name, c := range children {
		if node, ok := c.Operations().(*Node); ok && is[name] != node.ino {
			n.NotifyEntry(name)
			n.RmChild(name)
			done[name] = true
		}
	}
	for name, ino := range was {
		if is[name] != ino && !done[name] {
			n.NotifyEntry(name)
		}
	}
	for name := range is {
		if _, ok := was[name]; !ok && !done[name] {
			n.NotifyEntry(name) // a cached negative entry
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
