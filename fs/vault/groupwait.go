package vault

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// maxGroupWait bounds how long a commit waits for other fsyncs to
// publish (publishing.wait) when Tuning.GroupCommitWait is not set.
const maxGroupWait = 250 * time.Millisecond

// publishing counts the fsyncs that are publishing their file's data (its
// upload) and will then ask for a commit. A commit made for an fsync waits
// for them, at most about as long as a commit takes, so that it holds
// their files too: heads are one compare-and-swap chain, so commits run
// one at a time, and a file whose upload ends just after a commit started
// would wait for that one and then for one of its own. With writers
// fsyncing side by side (a sync tool's 4 workers) one commit then holds
// all of them where it held 1.4-1.9 files (docs/PERFORMANCE.md, "The
// sync-tool pattern, phase by phase"). A lone fsync never waits: nobody
// else is publishing. Only the fsync of a file with at most one chunk to
// upload counts (fsync): a bigger upload takes longer than a commit, and
// waiting for it would only delay the small files' fsyncs.
type publishing struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil while nobody waits
	last time.Duration // how long the last commit made for an fsync took

	waits atomic.Int64 // waits begun (Stats.GroupWaits)
}

func (p *publishing) start() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *publishing) done() {
	p.mu.Lock()
	p.n--
	if p.n == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
	p.mu.Unlock()
}

// wait returns once no fsync is publishing, or after limit (0: as long as
// the last commit took, at most maxGroupWait), or when ctx ends.
func (p *publishing) wait(ctx context.Context, limit time.Duration) {
	p.mu.Lock()
	if p.n == 0 {
		p.mu.Unlock()
		return
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle := p.idle
	if limit <= 0 {
		limit = min(p.last, maxGroupWait)
	}
	p.mu.Unlock()
	if limit <= 0 {
		return
	}
	p.waits.Add(1)
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-ctx.Done():
	}
}

// took notes how long a commit made for an fsync took.
func (p *publishing) took(d time.Duration) {
	p.mu.Lock()
	p.last = d
	p.mu.Unlock()
}

// packRound gathers the small files of fsyncs that arrive side by side
// into one pack: one PUT for a round of a sync tool's writers instead of
// one each. On a store whose PUTs cost a disk sync each, the four writers'
// objects were four PUTs the store made one after the other, then the head
// was a fifth: the data, not the commit, took most of each round.
//
// A round opens when an fsync's file is ready to be sent and expects as
// many fsyncs as were packing at once during the round before (peak):
// writers fall into step under group commit (publishing), so that is how
// many will come. It sends the pack when they have all come, or after a
// short wait (limit). An fsync that has always been alone (Syncthing
// finishes files one at a time, SQLite fsyncs one file after another)
// expects nobody and never waits.
type packRound struct {
	mu   sync.Mutex
	n    int // fsyncs whose small file is in the packer, until their publish ends
	peak int // most of them at once since the current round opened
	cur  *gathering

	gathered atomic.Int64 // fsyncs that joined a round another opened (Stats.GatheredFsyncs)
	waits    atomic.Int64 // fsyncs that waited for others to join (Stats.GatherWaits)
}

type gathering struct {
	expect, arrived int
	full            chan struct{} // closed when the round ends
}

// join adds an fsync whose small file is in the packer to the round, and
// sends the pack once the round ends. The caller calls leave when its
// publish is over.
func (r *packRound) join(ctx context.Context, p *packer, limit time.Duration) {
	r.mu.Lock()
	r.n++
	g := r.cur
	if g == nil {
		g = &gathering{expect: r.peak, full: make(chan struct{})}
		r.cur, r.peak = g, 0
	}
	r.peak = max(r.peak, r.n)
	g.arrived++
	if g.arrived > 1 {
		r.gathered.Add(1)
	}
	if g.arrived >= g.expect {
		r.endLocked(g)
		r.mu.Unlock()
		p.flush()
		return
	}
	r.mu.Unlock()
	r.waits.Add(1)
	t := time.NewTimer(limit)
	select {
	case <-g.full:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	r.mu.Lock()
	r.endLocked(g)
	r.mu.Unlock()
	p.flush()
}

func (r *packRound) endLocked(g *gathering) {
	if r.cur == g {
		r.cur = nil
		close(g.full)
	}
}

func (r *packRound) leave() {
	r.mu.Lock()
	r.n--
	r.mu.Unlock()
}
