package fs

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// DefaultFollowInterval is how often a read-only mount polls the head for
// new commits of the writer when Options.FollowInterval is zero.
const DefaultFollowInterval = 2 * time.Second

// follower is the state of a read-only mount that follows the writer's
// commits. Only the poll goroutine touches etag, bad and failing.
type follower struct {
	root atomic.Pointer[Node]      // the mounted root; nil without a mount
	head atomic.Pointer[meta.Head] // the commit the tree shows

	meta    *meta.Follower
	etag    string // ETag of the head object the tree was loaded from
	bad     string // ETag of a head refused for good (tampered, rolled back)
	failing bool   // the last poll failed: log only the first of a run
}

// following reports whether this FS follows the writer: a read-only mount
// with FollowInterval >= 0. (A mounted past snapshot must not follow.)
func (o Options) following() bool {
	return o.ReadOnly && o.FollowInterval >= 0 && o.Snapshot == ""
}

// startFollow starts polling the head, for a following FS.
func (fs *FS) startFollow() {
	if !fs.opts.following() || fs.mlog == nil {
		return
	}
	h := fs.mlog.Head()
	fs.follow.head.Store(&h)
	fs.follow.meta = meta.NewFollower(fs.opts.Store, fs.opts.Keys)
	fs.bg.Go(fs.followLoop)
}

// followLoop polls every FollowInterval until Close. A failed poll is
// retried at the next tick; it never stops the loop.
func (fs *FS) followLoop() {
	ctx, cancel := context.WithCancel(fs.ctx)
	defer cancel()
	go func() {
		select {
		case <-fs.loopStop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(fs.opts.FollowInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fs.poll(ctx)
		fs.count.polls.Add(1)
	}
}

// poll checks the head cheaply (a Stat, compared by ETag) and, when it
// changed, reads it and loads the new tree. A head older than the one
// shown, or one that fails to authenticate, is never applied: the mount
// keeps serving the last good tree.
func (fs *FS) poll(ctx context.Context) {
	fw := &fs.follow
	hctx, cancel := context.WithTimeout(ctx, fs.opts.tune.pollTimeout)
	defer cancel()
	info, err := fs.opts.Store.Stat(hctx, meta.HeadKey)
	if err != nil {
		fs.pollFailed(ctx, "cannot check the head for new commits; will retry", err)
		return
	}
	if info.ETag != "" && (info.ETag == fw.etag || info.ETag == fw.bad) {
		fs.pollOK()
		return
	}
	nh, err := fw.meta.Peek(hctx)
	if err != nil {
		fs.pollRefused(ctx, info.ETag, err)
		return
	}
	cur := *fw.head.Load()
	switch {
	case nh.Seq < cur.Seq || nh.Seq == cur.Seq && !nh.SameCommit(cur):
		fw.bad = info.ETag
		fs.log.Error("the bucket shows an older commit than this mount already follows, or another one with its number (rollback, fork or stale view); ignoring it",
			"shown_seq", cur.Seq, "shown_device", cur.Device, "shown_time", cur.Time,
			"head_seq", nh.Seq, "head_device", nh.Device, "head_time", nh.Time)
		return
	case nh.Seq == cur.Seq:
		fw.etag = info.ETag
		fs.pollOK()
		return
	}
	if fs.opts.CheckHead != nil {
		if err := fs.opts.CheckHead(nh); err != nil {
			fw.bad = info.ETag
			fs.log.Error("the bucket's new commit is older than one this device has seen (rollback or stale view); ignoring it", "err", err)
			return
		}
	}
	lctx, cancelLoad := context.WithTimeout(ctx, fs.opts.tune.loadTimeout)
	defer cancelLoad()
	tree, err := fw.meta.Load(lctx, fs.tree)
	if err != nil {
		fs.pollRefused(ctx, info.ETag, err)
		return
	}
	fs.applyFollow(tree, nh)
	fw.etag = info.ETag
	fs.pollOK()
	fs.log.Debug("following a new commit", "seq", nh.Seq, "device", nh.Device, "time", nh.Time)
	if fs.opts.OnCommit != nil {
		fs.opts.OnCommit(nh)
	}
}

// pollRefused handles a head or tree that could not be loaded: tampering
// is logged loudly and that head is not read again until it changes;
// anything else (network, an object deleted under a commit in flight) is
// retried at the next tick.
func (fs *FS) pollRefused(ctx context.Context, etag string, err error) {
	if !errors.Is(err, crypt.ErrAuth) {
		fs.pollFailed(ctx, "cannot load the new commit; will retry", err)
		return
	}
	fs.follow.bad = etag
	fs.log.Error("the new commit in the bucket does not authenticate (tampered, or a rollback); "+
		"this mount keeps showing the last good commit", "shown_seq", fs.follow.head.Load().Seq, "err", err)
}

func (fs *FS) pollFailed(ctx context.Context, msg string, err error) {
	if ctx.Err() != nil {
		return // closing
	}
	if fs.follow.failing {
		fs.log.Debug(msg, "err", err)
		return
	}
	fs.follow.failing = true
	fs.log.Warn(msg, "err", err)
}

func (fs *FS) pollOK() {
	if fs.follow.failing {
		fs.follow.failing = false
		fs.log.Info("following commits again")
	}
}

// applyFollow shows tree (loaded from head h) instead of the current one.
// The swap is atomic for every Tree call and for opens (fs.mu). Open
// handles keep the version they opened: a file whose content changed gets
// a fresh state for later opens, and an open file the writer deleted or
// replaced stays readable, unlinked, until its last close. Then the
// kernel's caches of what changed are invalidated.
func (fs *FS) applyFollow(tree *meta.Tree, h meta.Head) {
	fs.mu.Lock()
	var keep []meta.Ino
	for ino, f := range fs.files {
		if f.opens > 0 {
			keep = append(keep, ino)
		}
	}
	old := fs.tree.Replace(tree, keep)
	for ino, f := range fs.files {
		in, ok := fs.tree.Get(ino)
		f.mu.Lock()
		if !ok || int64(in.Size) != f.size || !slices.Equal(in.Extents, f.base) {
			// Handles that have f go on reading the version they opened;
			// releaseFile and maybeDrop cope with a detached f.
			delete(fs.files, ino)
		}
		f.mu.Unlock()
	}
	fs.mu.Unlock()
	fs.follow.head.Store(&h)
	if root := fs.follow.root.Load(); root != nil {
		fs.invalidate(root.EmbeddedInode(), old)
	}
}

// invalidate tells the kernel to drop what it caches of inodes and names
// that differ between old and the current tree. It walks only the inodes
// the kernel knows (go-fuse's tree), so its cost follows the kernel's
// caches, not the vault's size. It must run without engine locks held:
// the kernel may wait for FUSE requests in flight before it answers.
func (fs *FS) invalidate(root *gofs.Inode, old *meta.Tree) {
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
		is, hasIt := fs.tree.Get(node.ino)
		if hadIt != hasIt || !sameInode(was, is) {
			n.NotifyContent(0, 0) // attributes and cached pages
		}
		children := n.Children()
		if n.IsDir() {
			fs.invalidateNames(n, node.ino, old, children)
		}
		for _, c := range children {
			stack = append(stack, c)
		}
	}
}

// invalidateNames drops the kernel's entries (positive and negative) for
// every name of directory dir that changed, and forgets go-fuse's children
// whose names went elsewhere, so that paths stay right.
func (fs *FS) invalidateNames(n *gofs.Inode, dir meta.Ino, old *meta.Tree, children map[string]*gofs.Inode) {
	was := entryMap(old, dir)
	is := entryMap(fs.tree, dir)
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
func (fs *FS) openFlags() uint32 {
	if fs.opts.following() {
		return fuse.FOPEN_DIRECT_IO
	}
	return 0
}
