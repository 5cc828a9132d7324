package vault

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
)

// DefaultFollowInterval is how often a read-only mount polls the head for
// new commits of the writer when Options.FollowInterval is zero.
const DefaultFollowInterval = 2 * time.Second

// follower is the state of a read-only mount that follows the writer's
// commits. Only the poll goroutine touches etag, bad and failing.
type follower struct {
	hook atomic.Pointer[func(old *meta.Tree)] // SetFollowHook's; nil before
	head atomic.Pointer[meta.Head]            // the commit the tree shows

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
func (fs *Vault) startFollow() {
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
func (fs *Vault) followLoop() {
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
func (fs *Vault) poll(ctx context.Context) {
	fw := &fs.follow
	hctx, cancel := context.WithTimeout(ctx, fs.opts.Tuning.PollTimeout)
	defer cancel()
	info, err := fs.opts.Store.Stat(hctx, layout.Head)
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
	lctx, cancelLoad := context.WithTimeout(ctx, fs.opts.Tuning.LoadTimeout)
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
func (fs *Vault) pollRefused(ctx context.Context, etag string, err error) {
	if !errors.Is(err, crypt.ErrAuth) {
		fs.pollFailed(ctx, "cannot load the new commit; will retry", err)
		return
	}
	fs.follow.bad = etag
	fs.log.Error("the new commit in the bucket does not authenticate (tampered, or a rollback); "+
		"this mount keeps showing the last good commit", "shown_seq", fs.follow.head.Load().Seq, "err", err)
}

func (fs *Vault) pollFailed(ctx context.Context, msg string, err error) {
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

func (fs *Vault) pollOK() {
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
func (fs *Vault) applyFollow(tree *meta.Tree, h meta.Head) {
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
	if hook := fs.follow.hook.Load(); hook != nil {
		(*hook)(old)
	}
}

// SetFollowHook sets what a following vault calls after it swapped in a
// newer commit's tree, with the tree it showed before (the current one is
// Tree()): the FUSE layer tells the kernel what changed. It runs without
// engine locks held, on the poll goroutine.
func (fs *Vault) SetFollowHook(fn func(old *meta.Tree)) { fs.follow.hook.Store(&fn) }

// Following reports whether this vault follows the writer's commits (a
// read-only vault with a FollowInterval >= 0): it can show a newer tree at
// any moment, and an open file keeps reading the version it opened.
func (fs *Vault) Following() bool { return fs.opts.following() }
