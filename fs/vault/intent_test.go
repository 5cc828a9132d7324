package vault

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// The commit of an fsync(2) whose data is already in the store writes its
// intent log to the file system's cache only (writeIntent with cached): these
// tests pin what that keeps.

// killedAtHead writes p on a, fsyncs it in the background with the head
// put held at a gate, and returns copies of the cache directory and of the
// store taken while the commit waits there: what a kill -9 at that moment
// leaves (cp reads through the page cache, where the cached intent is),
// with the gate and the fsync's result.
func killedAtHead(t *testing.T, a *opened, mem *remote.Memory, cut *faults.Store, p string, data []byte) (string, *remote.Memory, *faults.Gate, <-chan error) {
	t.Helper()
	f, err := a.create(p)
	ok(t, err)
	_, err = f.WriteAt(context.Background(), data, 0)
	ok(t, err)
	gate := faults.NewGate()
	cut.Inject(faults.Put, faults.Wait(gate).If(func(c faults.Call) bool { return c.Key == layout.Head }).Times(1))
	res := make(chan error, 1)
	go func() {
		res <- f.Fsync(context.Background())
		f.Release()
	}()
	select {
	case <-gate.Arrived():
	case err := <-res:
		t.Fatalf("fsync returned %v before putting the head", err)
	}
	if !a.stage.dir.IntentCached() {
		t.Error("the fsync's commit wrote its intent durably: its data was in the store, it should take the cached path")
	}
	return copyDir(t, a.cache), copyStore(t, mem), gate, res
}

// copyDir returns a copy of directory dir (cp -a).
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	c := filepath.Join(t.TempDir(), "cache")
	if out, err := exec.Command("cp", "-a", dir, c).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return c
}

// TestCachedIntentAfterKill: a mount killed while the commit of an fsync
// puts the head loses nothing: the next mount on the device replays the
// change from the cached intent. And when that commit did land, a later
// mount on the device whose intent removal a power cut undid finds the
// intent obsolete by its own high-water mark, even after another device
// changed the same file: nothing is set aside. (Seen failing without the
// SeenMount rule in prepareRecovery: the file was set aside.)
func TestCachedIntentAfterKill(t *testing.T) {
	mem := remote.NewMemory()
	v := newVault(t, mem, testChunk)
	cut := faults.New(mem)
	cache := t.TempDir()
	a := v.openCache(t, cut, cache, func(o *Options) { o.CommitInterval = time.Hour })
	committed := map[string][]byte{"old": []byte("committed before")}
	writeFiles(t, a.Vault, committed)
	ok(t, a.Sync(context.Background()))

	want := pattern(3, testChunk+100)
	killed, before, gate, res := killedAtHead(t, a, mem, cut, "db/msgstore.db", want)
	gate.Open()
	ok(t, <-res)
	a.close(t)
	last := a.Head()

	t.Run("replayed", func(t *testing.T) {
		killed := copyDir(t, killed)
		r := v.openCache(t, before, killed)
		if rec := r.Recovered(); rec == nil || !rec.Replayed {
			t.Fatalf("Recovered() = %+v, want a replay", rec)
		}
		wantFiles(t, r.Vault, committed)
		wantContent(t, r.Vault, "db/msgstore.db", want)
		r.close(t)
		if hasIntent(killed) {
			t.Error("intent left after the replay was committed")
		}
	})

	t.Run("obsolete", func(t *testing.T) {
		b := v.openCache(t, mem, t.TempDir())
		theirs := []byte("another device's version")
		writeFiles(t, b.Vault, map[string][]byte{"db/msgstore.db": theirs})
		b.close(t)
		powerCut := copyDir(t, killed)
		r := v.openCache(t, mem, powerCut, func(o *Options) { o.SeenMount, o.SeenSeq = last.MountID, last.Seq })
		if rec := r.Recovered(); rec != nil {
			t.Errorf("Recovered() = %+v, want nothing: the intent's commit landed", rec)
		}
		wantContent(t, r.Vault, "db/msgstore.db", theirs)
		if _, err := r.lookupPath(RecoveredDir); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("/%s: %v, want nothing set aside", RecoveredDir, err)
		}
		r.close(t)
	})
}

// TestCachedIntentFailedCommit: when the commit of an fsync that wrote its
// intent to the cache only fails (the store refuses the head until the
// fsync gives up), fsync reports EIO and the intent is then on disk
// durably, naming the file, for the next mount. (Seen failing with the
// rewrite after the failure removed: the intent stayed cached only.)
func TestCachedIntentFailedCommit(t *testing.T) {
	mem := remote.NewMemory()
	v := newVault(t, mem, testChunk)
	cut := faults.New(mem)
	a := v.openCache(t, cut, t.TempDir(), func(o *Options) {
		o.CommitInterval = time.Hour
		o.FsyncTimeout = 2 * time.Second
	})
	cut.Inject(faults.Put, faults.Fail(faults.ErrUnavailable).If(func(c faults.Call) bool { return c.Key == layout.Head }))
	want := pattern(4, 5000)
	_, _, gate, res := killedAtHead(t, a, mem, cut, "msgstore.db", want)
	gate.Open()
	if err := <-res; !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync with the head refused = %v, want EIO", err)
	}
	if a.stage.dir.IntentCached() || !hasIntent(a.cache) {
		t.Errorf("after the failed commit: intent on disk %v, cached only %v; want it written durably",
			hasIntent(a.cache), a.stage.dir.IntentCached())
	}
	in, err := a.stage.dir.ReadIntent()
	ok(t, err)
	if in == nil || len(in.Files) != 1 || in.Files[0].Path != "msgstore.db" || in.Files[0].Size != uint64(len(want)) {
		t.Errorf("intent after the failed commit = %+v, want msgstore.db of %d bytes", in, len(want))
	}
	cut.Clear()
	a.close(t)
	wantContent(t, v.readOnly(t).Vault, "msgstore.db", want)
}
