package main

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/vault"
)

func TestMemoryLimit(t *testing.T) {
	const base = 100 << 20
	for _, c := range []struct {
		inodes uint64
		want   int64
	}{
		{0, base},
		{10, base + 10*limitPerInode},
		{300_000, base + 300_000*limitPerInode}, // 60 MB live measured
	} {
		if got := memoryLimit(base, c.inodes); got != c.want {
			t.Errorf("memoryLimit(%d, %d) = %d, want %d", base, c.inodes, got, c.want)
		}
	}
	if got := memoryLimit(base, 1_000_000); got < 200e6*3/2 {
		t.Errorf("1,000,000 inodes (200 MB live) get a limit of %d: no room for garbage", got)
	}
}

// TestLimitBaseFollowsBudget: a --memory-budget above the default raises
// the soft limit by the difference (the buffers are live data: a limit
// below them makes the collector run back to back); a smaller one keeps
// the base, which also covers the read cache.
func TestLimitBaseFollowsBudget(t *testing.T) {
	for _, c := range []struct{ budget, want int64 }{
		{0, mountMemoryLimit},
		{16 << 20, mountMemoryLimit},
		{vault.DefaultMemoryBudget, mountMemoryLimit},
		{256 << 20, mountMemoryLimit + 256<<20 - vault.DefaultMemoryBudget},
	} {
		if got := limitBase(c.budget); got != c.want {
			t.Errorf("limitBase(%d MiB) = %d MiB, want %d MiB", c.budget>>20, got>>20, c.want>>20)
		}
	}
}

// churn allocates n MiB of garbage, 1 MiB at a time, and returns how many
// collections ran meanwhile.
func churn(n int) uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumGC
	var sink []byte
	for range n {
		sink = make([]byte, 1<<20)
		sink[0] = 1
	}
	runtime.KeepAlive(sink)
	runtime.ReadMemStats(&ms)
	return ms.NumGC - before
}

// TestMemoryLimitFollowsTree: a big tree's metadata is live heap above the
// base limit. With the base alone the collector runs on nearly every
// allocation; once the tree's size is known the limit leaves room for
// garbage. Buffers (here: the live heap before the tree grows) never raise
// it.
func TestMemoryLimitFollowsTree(t *testing.T) {
	const base, liveMiB, garbageMiB = 64 << 20, 128, 512
	orig := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(orig)
	var inodes atomic.Uint64
	var polls atomic.Int64
	stop := adaptMemoryLimit(base, inodes.Load, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Millisecond, func() { polls.Add(1) }, true, false)
	waitPolls := func(n int64) { // n more looks at the tree
		t.Helper()
		from := polls.Load()
		for deadline := time.Now().Add(30 * time.Second); polls.Load() < from+n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the limit was not looked at %d times in 30s", n)
			}
		}
	}
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	if got := debug.SetMemoryLimit(-1); got != base {
		t.Fatalf("an empty tree: limit %d, want the base %d", got, base)
	}

	live := make([][]byte, liveMiB) // the tree's nodes
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	waitPolls(5)
	if got := debug.SetMemoryLimit(-1); got != base {
		t.Fatalf("a live heap of %d MiB raised the limit to %d: buffers must not", liveMiB, got)
	}
	fixed := churn(garbageMiB)

	inodes.Store(liveMiB << 20 / treeBytesPerInode) // the tree that holds that heap
	waitPolls(2)
	if debug.SetMemoryLimit(-1) == base {
		t.Fatalf("the limit stayed at %d for a tree of %d inodes", base, inodes.Load())
	}
	adapted := churn(garbageMiB)
	stop()
	stop = nil
	runtime.KeepAlive(live)
	if got := debug.SetMemoryLimit(-1); got != orig {
		t.Errorf("stop left the limit at %d, not the %d found at the start", got, orig)
	}
	t.Logf("%d MiB of garbage beside %d MiB live: %d collections with the base limit (%d MiB), %d with the tree's (%d MiB)",
		garbageMiB, liveMiB, fixed, base>>20, adapted, memoryLimit(base, inodes.Load())>>20)
	if fixed < 20 {
		t.Fatalf("a limit below the live heap ran only %d collections: the test shows nothing", fixed)
	}
	if adapted*3 > fixed {
		t.Errorf("%d collections with the tree's limit against %d with the base, want at most a third", adapted, fixed)
	}
}

// TestPaceLoad: the collector runs at loadGCPercent while a tree loads
// and at the pace found before afterwards; a GOGC the user set is left
// alone.
func TestPaceLoad(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	t.Setenv("GOGC", "") // set but empty: unset it for the first case
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	done := paceLoad()
	if got := debug.SetGCPercent(loadGCPercent); got != loadGCPercent {
		t.Errorf("GC percent while loading = %d, want %d", got, loadGCPercent)
	}
	done()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent after loading = %d, want 100 again", got)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	paceLoad()()
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("with GOGC=200 set, the pace became %d", got)
	}
}

// TestGCPercent: the default pace while the tree is small; beside a big
// tree, garbage of about gcSlack between collections (not as much again
// as the tree), never more often than minGCPercent.
func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		inodes uint64
		want   int
	}{
		{0, 100},
		{100_000, 100},                        // 20 MB of tree
		{gcSlack / treeBytesPerInode * 2, 50}, // a tree of twice the slack
		{1_000_000, minGCPercent},             // 200 MB: a fifth, not the 16 % of gcSlack
		{400_000, 41},                         // 80 MB: gcSlack
		{1 << 50, minGCPercent},
	} {
		if got := gcPercent(c.inodes); got != c.want {
			t.Errorf("gcPercent(%d) = %d, want %d", c.inodes, got, c.want)
		}
	}
	// The mount's pace follows the tree and is restored at the end.
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	var inodes atomic.Uint64
	polled := make(chan struct{}, 1)
	stop := adaptMemoryLimit(64<<20, inodes.Load, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Millisecond,
		func() {
			select {
			case polled <- struct{}{}:
			default:
			}
		}, false, true)
	inodes.Store(1_000_000)
	for range 3 {
		<-polled
	}
	got := debug.SetGCPercent(gcPercent(1_000_000))
	stop()
	if got != gcPercent(1_000_000) {
		t.Errorf("pace with a tree of a million: %d, want %d", got, gcPercent(1_000_000))
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("stop left the pace at %d, want the 100 found at the start", got)
	}
}
