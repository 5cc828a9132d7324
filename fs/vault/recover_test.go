package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

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
				b := v.openCache(t, mem, t.TempDir())
				writeFiles(t, b.Vault, map[string][]byte{"theirs": []byte("t")})
				b.close(t)
				want["theirs"] = []byte("t")
			}
			cat := history.New(mem, v.keys, history.Options{})
			res, err := history.Prune(context.Background(), mem, cat, history.PruneOptions{Grace: -1})
			ok(t, err)
			if len(res.Deleted) == 0 {
				t.Fatal("prune deleted nothing: the crashed device's uploads should be garbage to it")
			}

			mt := v.openCache(t, mem, cache)
			r := mt.Recovered()
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
			wantFiles(t, mt.Vault, under(r.Folder, staged))
			for p := range uploaded {
				if _, err := mt.lookupPath(r.Folder + "/" + p); !errors.Is(err, syscall.ENOENT) {
					t.Errorf("lost file %s was recreated: %v", p, err)
				}
			}
			wantFiles(t, mt.Vault, want) // the committed version stays where it was
			for _, p := range []string{"media", "partial"} {
				if _, err := mt.lookupPath(p); !errors.Is(err, syscall.ENOENT) {
					t.Errorf("%s: %v, want the crashed mount's changes not merged", p, err)
				}
			}
			mt.close(t)
			chk, err := history.Check(context.Background(), mem, cat, history.CheckOptions{ReadData: true})
			ok(t, err)
			if chk.Damaged() {
				t.Errorf("check after the recovery: %v", chk.Damage)
			}
			wantFiles(t, v.readOnly(t).Vault, under(r.Folder, staged))
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
	a := v.openCache(t, cut, cache, func(o *Options) {
		o.OutageTimeout = time.Second
		o.CommitInterval = time.Hour
		o.Tuning.StageAfter = time.Hour // however slow the machine, uploads stay in memory
	})
	fsys := a.Vault
	writeFiles(t, fsys, committed)
	ok(t, fsys.Sync(context.Background()))
	uploaded := map[string][]byte{"db/msgstore.db": pattern(2, 2*testChunk+5), "media/a.jpg": pattern(3, 2000)}
	writeFiles(t, fsys, uploaded)
	uploaded["partial"] = append(pattern(5, testChunk), pattern(6, 100)...)
	partial, err := fsys.create("partial")
	ok(t, err)
	_, err = partial.WriteAt(context.Background(), uploaded["partial"][:testChunk], 0) // a full chunk: uploaded while the file is open
	ok(t, err)
	eventually(t, "the closed files published and every upload in the store", func() error {
		if n := fsys.Stats().DirtyFiles; n != 1 || fsys.up.inflight.Load() != 0 {
			return fmt.Errorf("%d files with unpublished data, %d bytes uploading", n, fsys.up.inflight.Load())
		}
		return nil
	})
	if n := fsys.Stats().StagedEver; n != 0 {
		t.Fatalf("%d objects staged with the store healthy", n)
	}
	outage(cut)
	_, err = partial.WriteAt(context.Background(), uploaded["partial"][testChunk:], testChunk)
	ok(t, errors.Join(err, partial.Flush()))
	partial.Release()
	writeFiles(t, fsys, staged)
	ok(t, fsys.publishAll(context.Background(), fsys.dirtyFiles(false), pubCurrent))
	fsys.saveIntent()
	copyDir := filepath.Join(t.TempDir(), "cache")
	if out, err := exec.Command("cp", "-a", cache, copyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if err := a.Close(context.Background()); !errors.Is(err, ErrStaged) {
		t.Errorf("abandoned mount: Close = %v, want ErrStaged", err)
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

	mt := v.openCache(t, mem, cache)
	if r := mt.Recovered(); r == nil || !r.Replayed || len(r.Lost) > 0 {
		t.Fatalf("Recovered() = %+v, want a replay with nothing lost", r)
	}
	files := maps.Clone(uploaded)
	maps.Copy(files, staged)
	wantFiles(t, mt.Vault, files)
	mt.close(t)
	wantFiles(t, v.readOnly(t).Vault, files)
}

// under returns files with every path moved under dir.
func under(dir string, files map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for p, b := range files {
		out[strings.TrimPrefix(dir, "/")+"/"+p] = b
	}
	return out
}
