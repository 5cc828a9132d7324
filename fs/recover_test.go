package fs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/meta"
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
	if err := mt.m.Unmount(); !errors.Is(err, ErrStaged) {
		t.Errorf("abandoned mount: Unmount = %v, want ErrStaged", err)
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
	r := mt.m.FS().Recovered()
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
	r := mt.m.FS().Recovered()
	if r == nil || r.Replayed || !strings.HasPrefix(r.Folder, "/"+RecoveredDir+"/") || len(r.Files) != 2 {
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
	if err := a.m.Unmount(); !errors.Is(err, ErrStaged) {
		t.Errorf("Unmount of a fenced writer: %v, want ErrStaged", err)
	}
	again := v.mountCache(t, mem, cache)
	r := again.m.FS().Recovered()
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
	if r := mt.m.FS().Recovered(); r != nil {
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

// TestPrunedUploadsAreReportedLost: a device crashes after some of its
// changes went to the store straight from memory (so they are not staged
// on its disk) but before a commit named them; while it is away, a prune
// with no grace period deletes those objects as garbage (its lease has
// expired, so nothing stops one). When the device mounts again, the files
// whose data is gone are reported lost, by path, and are nowhere in the
// tree (not files that return EIO); a file with only part of its data
// gone is lost too, not recreated with a hole; what was staged on its disk
// is uploaded from there and set aside; the vault checks clean. With another
// device's commit in between, and without one (then the changes are set
// aside too, not replayed: applying them would name the deleted objects).
// Before the fix the recovery recreated the lost files pointing at the
// deleted objects: every read of them was EIO and check found damage.
func TestPrunedUploadsAreReportedLost(t *testing.T) {
	for _, other := range []bool{true, false} {
		name := "nobody_committed_since"
		if other {
			name = "another_device_committed"
		}
		t.Run(name, func(t *testing.T) {
			mem := remote.NewMemory()
			v := newVault(t, mem, testChunk)
			committed := map[string][]byte{"db/msgstore.db": pattern(1, testChunk+10), "keep": []byte("kept")}
			staged := map[string][]byte{"media/b.jpg": pattern(4, 3000)}
			cache, uploaded := crashAfterUploads(t, v, mem, committed, staged)

			want := maps.Clone(committed)
			if other {
				b := v.mountCache(t, mem, t.TempDir())
				writeFiles(t, b.dir, map[string][]byte{"theirs": []byte("t")})
				ok(t, b.m.Unmount())
				want["theirs"] = []byte("t")
			}
			cat := history.New(mem, v.keys, history.Options{})
			res, err := history.Prune(context.Background(), mem, cat, history.PruneOptions{Grace: -1})
			ok(t, err)
			if len(res.Deleted) == 0 {
				t.Fatal("prune deleted nothing: the crashed device's uploads should be garbage to it")
			}

			mt := v.mountCache(t, mem, cache)
			r := mt.m.FS().Recovered()
			if r == nil || r.Replayed || r.Conflict != other || r.Folder == "" {
				t.Fatalf("Recovered() = %+v, want files set aside (conflict %v)", r, other)
			}
			var wantLost []string
			for p := range uploaded {
				wantLost = append(wantLost, "/"+p)
			}
			slices.Sort(wantLost)
			if lost := slices.Sorted(slices.Values(r.Lost)); !slices.Equal(lost, wantLost) {
				t.Errorf("Lost = %q, want %q", lost, wantLost)
			}
			if want := []string{r.Folder + "/media/b.jpg"}; !slices.Equal(r.Files, want) {
				t.Errorf("Files = %q, want %q", r.Files, want)
			}
			aside := filepath.Join(mt.dir, r.Folder)
			wantFiles(t, aside, staged)
			for p := range uploaded {
				if _, err := os.Stat(filepath.Join(aside, p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("lost file %s was recreated: %v", p, err)
				}
			}
			wantFiles(t, mt.dir, want) // the committed version stays where it was
			for _, p := range []string{"media", "partial"} {
				if _, err := os.Stat(mt.path(p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: %v, want the crashed mount's changes not merged", p, err)
				}
			}
			ok(t, mt.m.Unmount())
			chk, err := history.Check(context.Background(), mem, cat, history.CheckOptions{ReadData: true})
			ok(t, err)
			if chk.Damaged() {
				t.Errorf("check after the recovery: %v", chk.Damage)
			}
			wantFiles(t, filepath.Join(v.readOnly(t).dir, r.Folder), staged)
		})
	}
}

// crashAfterUploads commits committed through a mount (it must hold
// db/msgstore.db), then, with the store healthy, rewrites db/msgstore.db,
// writes media/a.jpg and the first chunk of partial and waits until they
// are in the store, uploaded from memory (none staged); then the store
// goes down, the rest of partial and staged are written (staged on local
// disk), and the mount publishes it all and writes its intent log, as a
// commit attempt does first. It returns a copy of the cache directory as
// a crash there would leave it, and the files that have data uploaded
// from memory, with their content.
func crashAfterUploads(t *testing.T, v *testVault, mem remote.Store, committed, staged map[string][]byte) (string, map[string][]byte) {
	t.Helper()
	cache := t.TempDir()
	cut := faults.New(mem)
	a := v.mountCache(t, cut, cache, func(o *Options) {
		o.OutageTimeout = time.Second
		o.CommitInterval = time.Hour
		o.tune.stageAfter = time.Hour // however slow the machine, uploads stay in memory
	})
	fsys := a.m.FS()
	writeFiles(t, a.dir, committed)
	ok(t, a.m.Sync(context.Background()))
	uploaded := map[string][]byte{"db/msgstore.db": pattern(2, 2*testChunk+5), "media/a.jpg": pattern(3, 2000)}
	writeFiles(t, a.dir, uploaded)
	uploaded["partial"] = append(pattern(5, testChunk), pattern(6, 100)...)
	partial, err := os.Create(a.path("partial"))
	ok(t, err)
	defer partial.Close()
	_, err = partial.Write(uploaded["partial"][:testChunk]) // a full chunk: uploaded while the file is open
	ok(t, err)
	eventually(t, "the closed files published and every upload in the store", func() error {
		if n := len(fsys.dirtyFiles(false)); n != 1 || fsys.up.inflight.Load() != 0 {
			return fmt.Errorf("%d files with unpublished data, %d bytes uploading", n, fsys.up.inflight.Load())
		}
		return nil
	})
	if n := fsys.stage.held.Load(); n != 0 {
		t.Fatalf("%d objects staged with the store healthy", n)
	}
	outage(cut)
	_, err = partial.Write(uploaded["partial"][testChunk:])
	ok(t, errors.Join(err, partial.Close()))
	writeFiles(t, a.dir, staged)
	ok(t, fsys.publishAll(context.Background(), fsys.dirtyFiles(false)))
	fsys.saveIntent()
	copyDir := filepath.Join(t.TempDir(), "cache")
	if out, err := exec.Command("cp", "-a", cache, copyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if err := a.m.Unmount(); !errors.Is(err, ErrStaged) {
		t.Errorf("abandoned mount: Unmount = %v, want ErrStaged", err)
	}
	return copyDir, uploaded
}

// TestRecoveryChecksBeforeItDecides: while the store cannot say whether
// the crashed mount's uploads are still there, Open refuses and leaves
// the intent and the staged data alone (nothing is declared lost, nothing
// is applied); once it answers, and nothing was pruned, the changes are
// replayed in place, none lost.
func TestRecoveryChecksBeforeItDecides(t *testing.T) {
	mem := remote.NewMemory()
	v := newVault(t, mem, testChunk)
	committed := map[string][]byte{"db/msgstore.db": pattern(1, testChunk+10)}
	staged := map[string][]byte{"media/b.jpg": pattern(4, 3000)}
	cache, uploaded := crashAfterUploads(t, v, mem, committed, staged)

	denied := faults.New(mem)
	denied.Inject(faults.Stat, faults.Fail(errors.New("injected: 403 Forbidden")).If(faults.KeyPrefix("data/")))
	_, err := Open(context.Background(), Options{Store: denied, Keys: v.keys, CacheDir: cache, Device: "test"})
	if err == nil || !strings.Contains(err.Error(), "mount again") {
		t.Fatalf("Open while the store cannot be asked: %v, want a refusal", err)
	}
	if !hasIntent(cache) || stagedObjects(t, cache) == 0 {
		t.Fatalf("the refused Open touched the staging area: intent %v, %d objects", hasIntent(cache), stagedObjects(t, cache))
	}

	mt := v.mountCache(t, mem, cache)
	if r := mt.m.FS().Recovered(); r == nil || !r.Replayed || len(r.Lost) > 0 {
		t.Fatalf("Recovered() = %+v, want a replay with nothing lost", r)
	}
	files := maps.Clone(uploaded)
	maps.Copy(files, staged)
	wantFiles(t, mt.dir, files)
	ok(t, mt.m.Unmount())
	wantFiles(t, v.readOnly(t).dir, files)
}
