package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/sealfs/sealfs/fs/vault"
)

// mountMemoryLimit is the mount process's soft memory limit for its
// buffers and a small tree. The FS bounds its buffers (dirty chunks under
// vault.DefaultMemoryBudget, the read cache under fs.DefaultReadCache);
// without a limit the Go runtime lets garbage grow to twice the live heap
// before collecting, which doubled the peak RSS of a mount writing 512 MiB
// (docs/PERFORMANCE.md: 143-168 MiB without, 108 MiB with it, no
// measurable throughput loss).
const mountMemoryLimit = 100 << 20

// limitPerInode is what each file and folder of the tree adds to the limit:
// the tree's metadata is live, not garbage, and grows without bound (about
// 180-200 bytes per inode in fs/meta, treeBytesPerInode; the FUSE side
// keeps nothing per inode since it serves the raw API), so a fixed limit
// below it made the collector run back to back (200,000 files: 246
// collections while creating 100,000 more, against 3 with a limit per
// inode). Twice the tree's bytes leaves room for files with many extents
// (48 bytes each); what a big tree's heap may grow to between collections
// is set by the pace (gcPercent), below this limit.
const limitPerInode = 400

// treeBytesPerInode is what the tree holds per file or folder (fs/meta
// TestMemoryPerEntry: 179 bytes loaded, 202 built by creates).
const treeBytesPerInode = 200

// gcSlack is the garbage a mount of a big tree lets grow between
// collections (gcPercent): a million files' tree is about 180 MB.
const gcSlack = 32 << 20

// minGCPercent is the most frequent pace gcPercent sets.
const minGCPercent = 20

// gcPercent is the collector's pace (GOGC) for a mount of a tree of
// inodes files and folders: the default 100 (garbage may grow as large
// as what is live) while the tree is small, and beside a big tree
// garbage of about gcSlack, at least a fifth of the tree. At the
// default pace a million-file tree's mount grew by the tree's size again
// during a find and a du (to about 450 bytes per entry); the tree holds
// no pointers per entry, so collecting more often costs little
// (docs/PERFORMANCE.md, "The FUSE side without a node per entry").
func gcPercent(inodes uint64) int {
	tree := min(inodes, 1<<40) * treeBytesPerInode
	if tree <= gcSlack {
		return 100
	}
	return max(minGCPercent, int(100*gcSlack/tree))
}

// loadGCPercent is the collector's pace (GOGC) while a mount loads its
// tree. Loading a checkpoint makes garbage (the decompressed checkpoint,
// its decoded ops) while the tree it builds is live, and at the default
// pace the heap grows to twice what is live before a collection: a
// million-file tree peaked at 762 MiB while loading, four times the tree
// (docs/PERFORMANCE.md, "The FUSE side without a node per entry"). The
// tree holds no pointers per entry, so a collection is cheap: at 10 the
// load's peak was 249-250 MiB against 256 at 25, the mount 4.1-4.3 s
// against 3.9-4.1 (three runs each, alternated).
const loadGCPercent = 10

// paceLoad sets the collector's pace for loading a tree (unless the user
// chose one with GOGC); the returned function restores it.
func paceLoad() (done func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	old := debug.SetGCPercent(loadGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// limitPoll is how often the tree's size is looked at.
const limitPoll = 500 * time.Millisecond

// memoryLimit is the soft limit of a mount whose tree holds inodes files
// and folders. It depends on the tree only, not on the live heap: a
// write's buffers are live too, and must not raise the limit they are
// kept under.
func memoryLimit(base int64, inodes uint64) int64 {
	return base + int64(min(inodes, 1<<40))*limitPerInode
}

// setMemoryLimit sets the mount process's soft memory limit (see
// memoryLimit) and the collector's pace (gcPercent) and keeps them in
// step with the tree, unless the user chose a limit with GOMEMLIMIT or a
// pace with GOGC. The limit is soft: the runtime collects more often near
// it, never fails an allocation. The returned function stops adjusting
// them. budget is the write memory budget (--memory-budget).
func setMemoryLimit(log *slog.Logger, budget int64, inodes func() uint64) (stop func()) {
	_, limitSet := os.LookupEnv("GOMEMLIMIT")
	_, paceSet := os.LookupEnv("GOGC")
	if limitSet && paceSet {
		return func() {}
	}
	return adaptMemoryLimit(limitBase(budget), inodes, log, limitPoll, nil, !limitSet, !paceSet)
}

// limitBase is the soft limit's base for a write memory budget: a budget
// above the default raises it by the difference (the buffers are live
// data, and a limit below them would make the collector run back to
// back); a smaller one leaves it, as the read cache and the rest are the
// same.
func limitBase(budget int64) int64 {
	return mountMemoryLimit + max(0, budget-vault.DefaultMemoryBudget)
}

// adaptMemoryLimit sets the soft limit to memoryLimit(base, inodes())
// (if limit) and the pace to gcPercent(inodes()) (if pace) now and every
// poll until stop is called; stop restores what it found at the start.
// polled, if not nil, is called after each poll (tests).
func adaptMemoryLimit(base int64, inodes func() uint64, log *slog.Logger, poll time.Duration, polled func(), limit, pace bool) (stop func()) {
	n := inodes()
	cur, curPace := memoryLimit(base, n), gcPercent(n)
	var beforePace int
	var beforeLimit int64
	if limit {
		beforeLimit = debug.SetMemoryLimit(cur)
		log.Debug("soft memory limit", "bytes", cur)
	}
	if pace {
		beforePace = debug.SetGCPercent(curPace)
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			n := inodes()
			// Move only on a change of more than 1/16, so that a tree
			// that grows file by file does not reset the pacer each poll.
			want := memoryLimit(base, n)
			if d := want - cur; limit && (d > cur/16 || -d > cur/16) {
				debug.SetMemoryLimit(want)
				log.Debug("soft memory limit", "bytes", want)
				cur = want
			}
			if p := gcPercent(n); pace && p != curPace {
				debug.SetGCPercent(p)
				log.Debug("collector pace", "GOGC", p)
				curPace = p
			}
			if polled != nil {
				polled()
			}
		}
	}()
	return func() {
		close(done)
		<-exited
		if limit {
			debug.SetMemoryLimit(beforeLimit)
		}
		if pace {
			debug.SetGCPercent(beforePace)
		}
	}
}
