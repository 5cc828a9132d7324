package fs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// powerCut writes files through a mount whose store is down, waits until
// the intent log names them, and returns a copy of the cache directory as
// a power cut would leave it (the mount itself is abandoned; its store
// stays down so it never commits).
func powerCut(t *testing.T, v *testVault, mem remote.Store, before, during map[string][]byte, changes func(dir string)) string {
	t.Helper()
	cache := t.TempDir()
	cut := faults.New(mem)
	// No periodic commits: the copy below must not race an intent write.
	mt := v.mountCache(t, cut, cache, func(o *Options) { o.OutageTimeout = time.Second; o.CommitInterval = time.Hour })
	writeFiles(t, mt.dir, before)
	ok(t, mt.m.Sync(context.Background()))
	outage(cut)
	writeFiles(t, mt.dir, during)
	if changes != nil {
		changes(mt.dir)
	}
	// A commit attempt writes the intent before it waits for uploads.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_ = mt.m.Sync(ctx)
	cancel()
	copyDir := filepath.Join(t.TempDir(), "cache")
	out, err := exec.Command("cp", "-a", cache, copyDir).CombinedOutput()
	if err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if err := mt.m.Unmount(); !errors.Is(err, vault.ErrStaged) {
		t.Errorf("abandoned mount: Unmount = %v, want vault.ErrStaged", err)
	}
	return copyDir
}

// TestPowerCutReplay: after a power cut with the store down, the next
// mount on the device (same cache directory) replays the uncommitted
// changes — new files, a rename, a removal — and commits them.
func TestPowerCutReplay(t *testing.T) {
	mem := remote.NewMemory()
	v := newVault(t, mem, testChunk)
	during := map[string][]byte{"db/msgstore.db": pattern(7, 2*testChunk+3), "media/a.jpg": pattern(8, 1000)}
	cache := powerCut(t, v, mem, map[string][]byte{"old": []byte("old"), "gone": []byte("gone")}, during,
		func(dir string) {
			ok(t, os.Rename(filepath.Join(dir, "old"), filepath.Join(dir, "media/renamed")))
			ok(t, os.Remove(filepath.Join(dir, "gone")))
		})
	during["media/renamed"] = []byte("old")
	mt := v.mountCache(t, mem, cache)
	r := mt.m.Vault().Recovered()
	if r == nil || !r.Replayed || r.Folder != "" {
		t.Fatalf("Recovered() = %+v, want a replay", r)
	}
	wantFiles(t, mt.dir, during)
	for _, gone := range []string{"old", "gone"} {
		if _, err := os.Stat(mt.path(gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want removed", gone, err)
		}
	}
	ok(t, mt.m.Unmount())
	if n := stagedObjects(t, cache); n != 0 || hasIntent(cache) {
		t.Errorf("after the recovery: %d staged objects, intent %v", n, hasIntent(cache))
	}
	ro := v.mountCache(t, mem, t.TempDir(), func(o *Options) { o.ReadOnly = true })
	wantFiles(t, ro.dir, during)
}

// TestPowerCutConflict: if another device committed after the crashed
// mount's last commit, the recovered files are set aside in
// /.sealfs-recovered/<time>/ (never merged), the other device's work is
// untouched, and it is all committed.
func TestPowerCutConflict(t *testing.T) {
	mem := remote.NewMemory()
	v := newVault(t, mem, testChunk)
	during := map[string][]byte{"db/msgstore.db": pattern(9, testChunk+9), "shared": []byte("from the crashed mount")}
	cache := powerCut(t, v, mem, map[string][]byte{"shared": []byte("v1")}, during, nil)

	other := v.mountCache(t, mem, t.TempDir())
	writeFiles(t, other.dir, map[string][]byte{"shared": []byte("from the other device"), "theirs": []byte("t")})
	ok(t, other.m.Unmount())

	mt := v.mountCache(t, mem, cache)
	r := mt.m.Vault().Recovered()
	if r == nil || r.Replayed || !strings.HasPrefix(r.Folder, "/"+vault.RecoveredDir+"/") || len(r.Files) != 2 {
		t.Fatalf("Recovered() = %+v, want 2 files set aside", r)
	}
	aside := filepath.Join(mt.dir, r.Folder)
	wantFiles(t, aside, during)
	wantFiles(t, mt.dir, map[string][]byte{"shared": []byte("from the other device"), "theirs": []byte("t")})
	if _, err := os.Stat(mt.path("db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed mount's db/ was merged into the tree: %v", err)
	}
	ok(t, mt.m.Unmount())
	ro := v.mountCache(t, mem, t.TempDir(), func(o *Options) { o.ReadOnly = true })
	wantFiles(t, filepath.Join(ro.dir, r.Folder), during)
}

// TestFencedWriterKeepsChanges: a writer fenced by another device's commit
// stops committing, keeps its unsaved changes sealed on local disk, and
// its next mount sets them aside.
func TestFencedWriterKeepsChanges(t *testing.T) {
	mem := remote.NewMemory()
	v := newVault(t, mem, testChunk)
	cache := t.TempDir()
	a := v.mountCache(t, mem, cache, func(o *Options) { o.CommitInterval = time.Hour; o.OutageTimeout = time.Second })
	writeFiles(t, a.dir, map[string][]byte{"first": []byte("1")})
	ok(t, a.m.Sync(context.Background()))

	b := v.mountCache(t, mem, t.TempDir())
	writeFiles(t, b.dir, map[string][]byte{"b-file": []byte("b")})
	ok(t, b.m.Unmount())

	mine := map[string][]byte{"a-file": pattern(3, testChunk+1)}
	writeFiles(t, a.dir, mine)
	err := a.m.Sync(context.Background())
	if !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("commit after another device's: %v, want ErrFenced", err)
	}
	if err := a.m.Unmount(); !errors.Is(err, vault.ErrStaged) {
		t.Errorf("Unmount of a fenced writer: %v, want vault.ErrStaged", err)
	}
	again := v.mountCache(t, mem, cache)
	r := again.m.Vault().Recovered()
	if r == nil || r.Folder == "" {
		t.Fatalf("Recovered() = %+v, want files set aside", r)
	}
	wantFiles(t, filepath.Join(again.dir, r.Folder), mine)
	wantFiles(t, again.dir, map[string][]byte{"first": []byte("1"), "b-file": []byte("b")})
	ok(t, again.m.Unmount())
}

// TestUnreadableIntentIsKept: an intent that does not authenticate is
// moved aside untouched, never applied and never deleted.
func TestUnreadableIntentIsKept(t *testing.T) {
	mem := remote.NewMemory()
	v := newVault(t, mem, testChunk)
	cache := powerCut(t, v, mem, nil, map[string][]byte{"x": []byte("x")}, nil)
	p := filepath.Join(cache, "stage", "intent")
	b, err := os.ReadFile(p)
	ok(t, err)
	b[len(b)/2] ^= 1
	ok(t, os.WriteFile(p, b, 0o600))
	mt := v.mountCache(t, mem, cache)
	if r := mt.m.Vault().Recovered(); r != nil {
		t.Errorf("Recovered() = %+v from a tampered intent", r)
	}
	if _, err := os.Stat(mt.path("x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("x: %v, want absent", err)
	}
	moved, _ := filepath.Glob(filepath.Join(cache, "stage.unreadable-*", "intent"))
	if len(moved) != 1 {
		t.Errorf("tampered intent not kept aside: %v", moved)
	}
	ok(t, mt.m.Unmount())
}
