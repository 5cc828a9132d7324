package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
	"github.com/sealfs/sealfs/remote/s3test"
)

// followPoll is the follower's poll interval in tests: short, so tests
// are quick; nothing asserts how long following takes.
const followPoll = 20 * time.Millisecond

// follower mounts a read-only view of v that follows the writer; its log
// goes to the returned buffer.
//
// The kernel may cache its entries and attributes for an hour: changes
// become visible only if following invalidates those caches.
func (v *testVault) follower(t *testing.T, tweak ...func(*Options)) (*mounted, *logBuffer) {
	logs := &logBuffer{}
	mt := v.mount(t, append([]func(*Options){func(o *Options) {
		o.Tuning.FollowCacheTimeout = time.Hour
		o.ReadOnly = true
		o.FollowInterval = followPoll
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}}, tweak...)...)
	return mt, logs
}

// eventually retries check until it returns nil, failing the test with
// its last error if that takes unreasonably long.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hasContent checks p's content through a fresh open.
func hasContent(p string, want []byte) error {
	got, err := os.ReadFile(p)
	switch {
	case err != nil:
		return err
	case !bytes.Equal(got, want):
		return fmt.Errorf("%d bytes, want %d (or different bytes)", len(got), len(want))
	}
	return nil
}

func isGone(p string) error {
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lstat: %v, want ENOENT", err)
	}
	return nil
}

func hasSize(p string, want int64) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.Size() != want {
		return fmt.Errorf("size %d, want %d", st.Size(), want)
	}
	return nil
}

func commitNow(t *testing.T, mt *mounted) {
	t.Helper()
	ok(t, mt.m.Sync(context.Background()))
}

// TestFollowSeesChanges: a read-only mount on a second device shows the
// writer's new files, new contents, sizes, renames and deletions after
// they are committed, without a remount; including names it had looked
// up before (cached by the kernel) and names it had found missing.
func TestFollowSeesChanges(t *testing.T) {
	forEachStore(t, func(t *testing.T, v *testVault) {
		w := v.mount(t)
		var seen atomic.Uint64 // the device's high-water mark, as the CLI keeps it
		ro, _ := v.follower(t, func(o *Options) {
			o.OnCommit = func(h meta.Head) { seen.Store(max(seen.Load(), h.Seq)) }
		})
		ok(t, isGone(ro.path("a"))) // a negative entry the kernel may cache

		a1 := pattern(1, 2*testChunk+77)
		ok(t, os.WriteFile(w.path("a"), a1, 0o644))
		commitNow(t, w)
		eventually(t, "new file", func() error { return hasContent(ro.path("a"), a1) })

		a2 := pattern(2, 3*testChunk+1) // rewritten in place, larger
		ok(t, os.WriteFile(w.path("a"), a2, 0o644))
		commitNow(t, w)
		eventually(t, "larger rewrite", func() error { return hasContent(ro.path("a"), a2) })

		a3 := pattern(3, 100) // in place, smaller
		ok(t, os.WriteFile(w.path("a"), a3, 0o644))
		commitNow(t, w)
		eventually(t, "smaller size", func() error { return hasSize(ro.path("a"), int64(len(a3))) })
		wantContent(t, ro.path("a"), a3)

		ok(t, os.Mkdir(w.path("dir"), 0o755))
		ok(t, os.Mkdir(w.path("dir/sub"), 0o755))
		f := pattern(4, testChunk+3)
		ok(t, os.WriteFile(w.path("dir/sub/f"), f, 0o600))
		commitNow(t, w)
		eventually(t, "new tree", func() error { return hasContent(ro.path("dir/sub/f"), f) })

		ok(t, os.Rename(w.path("dir"), w.path("moved")))
		commitNow(t, w)
		eventually(t, "renamed dir", func() error { return hasContent(ro.path("moved/sub/f"), f) })
		eventually(t, "old dir name", func() error { return isGone(ro.path("dir")) })
		ents, err := os.ReadDir(ro.path(""))
		ok(t, err)
		if names := entryNames(ents); names != "a moved" {
			t.Errorf("root lists %q, want %q", names, "a moved")
		}

		ok(t, os.Chmod(w.path("moved/sub/f"), 0o640))
		ok(t, os.Remove(w.path("a")))
		commitNow(t, w)
		eventually(t, "deleted file", func() error { return isGone(ro.path("a")) })
		eventually(t, "mode change", func() error {
			st, err := os.Stat(ro.path("moved/sub/f"))
			if err == nil && st.Mode().Perm() != 0o640 {
				err = fmt.Errorf("mode %v, want 0640", st.Mode().Perm())
			}
			return err
		})
		mustErrno(t, os.WriteFile(ro.path("x"), nil, 0o644), syscall.EROFS)

		// The writer may still commit a late release after the last
		// commitNow: wait for the follower to catch up with the head.
		eventually(t, "OnCommit to report the head", func() error {
			h, err := meta.ReadHead(context.Background(), v.store, v.keys)
			if err == nil && seen.Load() != h.Seq {
				err = fmt.Errorf("OnCommit saw up to seq %d; the store's head is seq %d", seen.Load(), h.Seq)
			}
			return err
		})
	})
}

func entryNames(ents []os.DirEntry) string {
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// TestFollowOpenHandle: a reader holding a file open on the follower
// while the writer replaces it (rewritten in place, or a temporary file
// renamed over it, or deleted) goes on reading the whole version it
// opened, never bytes of the new one; a fresh open sees the new version.
func TestFollowOpenHandle(t *testing.T) {
	replace := []struct {
		name string
		do   func(t *testing.T, w *mounted, data []byte)
	}{
		{"rewritten in place", func(t *testing.T, w *mounted, data []byte) {
			ok(t, os.WriteFile(w.path("db"), data, 0o644))
		}},
		{"renamed over", func(t *testing.T, w *mounted, data []byte) {
			ok(t, os.WriteFile(w.path("db.tmp"), data, 0o644))
			ok(t, os.Rename(w.path("db.tmp"), w.path("db")))
		}},
		{"deleted", func(t *testing.T, w *mounted, data []byte) {
			ok(t, os.Remove(w.path("db")))
		}},
	}
	forEachStore(t, func(t *testing.T, v *testVault) {
		w := v.mount(t)
		ro, _ := v.follower(t)
		for i, r := range replace {
			t.Run(r.name, func(t *testing.T) {
				old := pattern(byte(10+i), 3*testChunk+11)
				ok(t, os.WriteFile(w.path("db"), old, 0o644))
				commitNow(t, w)
				eventually(t, "old version", func() error { return hasContent(ro.path("db"), old) })

				h, err := os.Open(ro.path("db"))
				ok(t, err)
				defer h.Close()
				half := len(old) / 2
				got := make([]byte, len(old)+100)
				n, err := io.ReadFull(h, got[:half])
				ok(t, err)

				neu := pattern(byte(20+i), testChunk/2) // shorter than where the reader is
				r.do(t, w, neu)
				commitNow(t, w)
				if r.name == "deleted" {
					eventually(t, "deletion", func() error { return isGone(ro.path("db")) })
				} else {
					eventually(t, "new version", func() error { return hasContent(ro.path("db"), neu) })
				}

				if st, err := h.Stat(); r.name != "rewritten in place" && (err != nil || st.Size() != int64(len(old))) {
					// The name is gone or names another file: the open one keeps its size.
					t.Errorf("fstat of the open file: %v, %v; want size %d", st, err, len(old))
				}
				m, err := io.ReadFull(h, got[n:])
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("reading on: %d bytes, %v", m, err)
				}
				if !bytes.Equal(got[:n+m], old) {
					t.Fatalf("open handle read %d bytes that are not the version it opened (%d bytes)", n+m, len(old))
				}
			})
		}
	})
}

// TestFollowUnderChurn: readers on the follower walk the tree and read
// every file while the writer commits new versions, renames a directory
// back and forth and replaces files in it, again and again; every read
// returns one whole committed version, never a mix. (Run with -race.)
func TestFollowUnderChurn(t *testing.T) {
	forEachStore(t, func(t *testing.T, v *testVault) {
		w := v.mount(t)
		ro, _ := v.follower(t)
		const versions = 8
		version := func(i int) []byte { // size and bytes name the version
			return pattern(byte(i), testChunk/2+i*(testChunk/3))
		}
		valid := func(b []byte) bool {
			for i := range versions {
				if bytes.Equal(b, version(i)) {
					return true
				}
			}
			return false
		}
		ok(t, os.WriteFile(w.path("f"), version(0), 0o644))
		ok(t, os.Mkdir(w.path("d"), 0o755))
		ok(t, os.WriteFile(w.path("d/g"), version(0), 0o644))
		commitNow(t, w)
		eventually(t, "first version", func() error { return hasContent(ro.path("f"), version(0)) })

		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []string
		for range 3 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					report := func(what string) {
						mu.Lock()
						bad = append(bad, what)
						mu.Unlock()
					}
					_ = filepath.WalkDir(ro.dir, func(p string, e iofs.DirEntry, err error) error {
						if errors.Is(err, iofs.ErrNotExist) {
							return nil // gone meanwhile: fine
						}
						if err != nil {
							report(fmt.Sprintf("%s: %v", p, err))
							return nil
						}
						if !e.Type().IsRegular() {
							return nil
						}
						b, err := os.ReadFile(p)
						// A new file may be committed before its content
						// (a periodic commit between its create and its
						// close; f too, when it is removed and created
						// again).
						fresh := len(b) == 0
						switch {
						case errors.Is(err, iofs.ErrNotExist):
						case err != nil:
							report(fmt.Sprintf("%s: %v", p, err)) // EIO, ESTALE ...: never fine
						case !valid(b) && !fresh:
							report(fmt.Sprintf("%s: %d bytes", p, len(b)))
						}
						return nil
					})
				}
			})
		}
		for i := 1; i < versions; i++ {
			tmp := fmt.Sprintf("f.%d", i)
			ok(t, os.WriteFile(w.path(tmp), version(i), 0o644))
			if i%2 == 0 {
				ok(t, os.Rename(w.path(tmp), w.path("f")))
			} else {
				ok(t, os.Remove(w.path(tmp)))
				ok(t, os.WriteFile(w.path("f"), version(i), 0o644))
			}
			from, to := "d", "e"
			if i%2 == 0 {
				from, to = to, from
			}
			ok(t, os.Rename(w.path(from), w.path(to)))
			ok(t, os.Remove(w.path(to+"/g")))
			ok(t, os.WriteFile(w.path(to+"/g"), version(i), 0o644))
			commitNow(t, w)
			// The readers walk while the follower shows this version.
			eventually(t, fmt.Sprintf("version %d", i), func() error { return hasContent(ro.path("f"), version(i)) })
		}
		eventually(t, "last version", func() error { return hasContent(ro.path("f"), version(versions-1)) })
		eventually(t, "last directory", func() error { return hasContent(ro.path("e/g"), version(versions-1)) })
		ok(t, isGone(ro.path("d")))
		close(stop)
		wg.Wait()
		if len(bad) > 0 {
			t.Fatalf("%d reads returned no committed version: %v", len(bad), bad)
		}
	})
}

// TestFollowRefusesBadHeads: a head that goes back to an older commit, or
// that does not authenticate, is never shown: the follower logs it and
// keeps serving the last good commit, and follows again once a genuine
// newer commit appears.
func TestFollowRefusesBadHeads(t *testing.T) {
	forEachStore(t, func(t *testing.T, v *testVault) {
		ctx := context.Background()
		ro, logs := v.follower(t)

		w := v.mount(t)
		ok(t, os.WriteFile(w.path("one"), []byte("1"), 0o644))
		commitNow(t, w)
		oldHead, _, err := v.store.Get(ctx, layout.Head)
		ok(t, err)
		ok(t, os.WriteFile(w.path("two"), []byte("2"), 0o644))
		w.unmount(t)
		eventually(t, "second commit", func() error { return hasContent(ro.path("two"), []byte("2")) })
		goodHead, _, err := v.store.Get(ctx, layout.Head)
		ok(t, err)

		t.Run("rolled back", func(t *testing.T) {
			_, err := v.store.Put(ctx, layout.Head, oldHead, remote.PutOptions{})
			ok(t, err)
			eventually(t, "rollback logged", func() error { return logged(logs, "older commit") })
			wantContent(t, ro.path("two"), []byte("2"))
		})
		t.Run("tampered", func(t *testing.T) {
			bad := bytes.Clone(goodHead)
			bad[len(bad)-1] ^= 1
			_, err := v.store.Put(ctx, layout.Head, bad, remote.PutOptions{})
			ok(t, err)
			eventually(t, "tampering logged", func() error { return logged(logs, "does not authenticate") })
			wantContent(t, ro.path("two"), []byte("2"))
			wantContent(t, ro.path("one"), []byte("1"))
		})
		t.Run("then a new commit", func(t *testing.T) {
			_, err := v.store.Put(ctx, layout.Head, goodHead, remote.PutOptions{})
			ok(t, err)
			w := v.mount(t)
			ok(t, os.WriteFile(w.path("three"), []byte("3"), 0o644))
			w.unmount(t)
			eventually(t, "third commit", func() error { return hasContent(ro.path("three"), []byte("3")) })
		})
	})
}

func logged(logs *logBuffer, what string) error {
	if !strings.Contains(logs.String(), what) {
		return fmt.Errorf("log does not say %q", what)
	}
	return nil
}

// TestFollowDisabled: with a negative FollowInterval a read-only mount
// keeps showing the commit it opened.
func TestFollowDisabled(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	w := v.mount(t)
	ro := v.mount(t, func(o *Options) { o.ReadOnly = true; o.FollowInterval = -1 })
	ok(t, os.WriteFile(w.path("new"), []byte("x"), 0o644))
	commitNow(t, w)
	// Wait until a following mount sees it, then check this one does not.
	fol, _ := v.follower(t)
	eventually(t, "following mount", func() error { return hasContent(fol.path("new"), []byte("x")) })
	polls := fol.m.Vault().Stats().Polls
	eventually(t, "five more polls of the following mount", func() error {
		if n := fol.m.Vault().Stats().Polls - polls; n < 5 {
			return fmt.Errorf("%d polls", n)
		}
		return nil
	})
	ok(t, isGone(ro.path("new")))
	if n := ro.m.Vault().Stats().Polls; n != 0 {
		t.Errorf("a mount that does not follow polled the head %d times", n)
	}
}

// BenchmarkFollowerRead compares reading a file on a following mount
// (direct I/O, so every read(2) is one FUSE request) with a read-only
// mount that does not follow (the kernel's page cache and read-ahead), by
// the application's read size. dd reads, in its own process: a read(2)
// into the test process's own heap is split into 8 KiB FUSE requests,
// which no real reader sees. After the first round the segments come from
// the engine's cache, so this measures the FUSE path, not the store.
func BenchmarkFollowerRead(b *testing.B) {
	dd, err := exec.LookPath("dd")
	if err != nil {
		b.Skip("no dd")
	}
	size := *benchSize << 20
	v := newVault(b, remote.NewMemory(), crypt.DefaultChunkSize)
	w := v.mount(b)
	writeSeq(b, w.path("f"), size)
	w.unmount(b)
	for _, mode := range []struct {
		name     string
		interval time.Duration
	}{{"following", 0}, {"pinned", -1}} {
		mt := v.mount(b, func(o *Options) { o.ReadOnly = true; o.FollowInterval = mode.interval })
		for _, bs := range []string{"4k", "128k", "1M"} {
			b.Run(mode.name+"/bs="+bs, func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					if out, err := exec.Command(dd, "if="+mt.path("f"), "of=/dev/null", "bs="+bs).CombinedOutput(); err != nil {
						b.Fatalf("dd: %v: %s", err, out)
					}
				}
			})
		}
	}
}

// TestFollowSurvivesStoreFailures: while the store fails or hangs on the
// follower's polls, it keeps serving what it shows, says so once, and
// follows again once the store answers.
func TestFollowSurvivesStoreFailures(t *testing.T) {
	s3test.RequireFUSE(t)
	v := newVault(t, remote.NewMemory(), testChunk)
	flaky := faults.New(v.store)
	ro, logs := (&testVault{store: flaky, keys: v.keys}).follower(t, func(o *Options) {
		o.Tuning.PollTimeout = 200 * time.Millisecond
	})
	w := v.mount(t)
	ok(t, os.WriteFile(w.path("a"), []byte("a"), 0o644))
	commitNow(t, w)
	eventually(t, "first file", func() error { return hasContent(ro.path("a"), []byte("a")) })

	metaKeys := func(c faults.Call) bool { return c.Key == layout.Head || strings.HasPrefix(c.Key, "meta/") }
	for _, fault := range []struct {
		name string
		rule func() *faults.Rule
		log  string
	}{
		{"failing", func() *faults.Rule { return faults.Fail(faults.ErrUnavailable).If(metaKeys) }, "will retry"},
		{"hanging", func() *faults.Rule { return faults.Hang().If(metaKeys) }, "deadline exceeded"},
	} {
		t.Run(fault.name, func(t *testing.T) {
			flaky.Inject(faults.Stat, fault.rule())
			flaky.Inject(faults.Get, fault.rule())
			ok(t, os.WriteFile(w.path(fault.name), []byte(fault.name), 0o644))
			commitNow(t, w)
			eventually(t, "failure logged", func() error { return logged(logs, fault.log) })
			wantContent(t, ro.path("a"), []byte("a"))
			flaky.Clear()
			eventually(t, "following again", func() error {
				return hasContent(ro.path(fault.name), []byte(fault.name))
			})
		})
	}
	if n := strings.Count(logs.String(), `level=WARN msg="cannot`); n != 2 {
		t.Errorf("%d warnings for two outages, want one each:\n%s", n, logs)
	}
}

// TestFollowerMmap: files on a following mount are opened with direct I/O;
// shared and private read-only mmap still work (programs map files they
// read, and exec maps binaries). The mapping is read in a child process:
// a page fault on its own mount can stop a Go FUSE server (the runtime
// waits for the faulting thread to stop the world).
func TestFollowerMmap(t *testing.T) {
	if p := os.Getenv("SEALFS_TEST_MMAP"); p != "" {
		mmapChild(t, p)
		return
	}
	v := newVault(t, remote.NewMemory(), testChunk)
	w := v.mount(t)
	ok(t, os.WriteFile(w.path("m"), mmapData, 0o644))
	commitNow(t, w)
	ro, _ := v.follower(t)
	eventually(t, "file", func() error { return hasContent(ro.path("m"), mmapData) })
	cmd := exec.Command(os.Args[0], "-test.run=^TestFollowerMmap$", "-test.v")
	cmd.Env = append(os.Environ(), "SEALFS_TEST_MMAP="+ro.path("m"))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "mmap ok") {
		t.Fatalf("mmap in a child process: %v\n%s", err, out)
	}
}

var mmapData = pattern(7, testChunk+4097)

func mmapChild(t *testing.T, p string) {
	for _, flags := range []int{syscall.MAP_SHARED, syscall.MAP_PRIVATE} {
		f, err := os.Open(p)
		ok(t, err)
		m, err := syscall.Mmap(int(f.Fd()), 0, len(mmapData), syscall.PROT_READ, flags)
		f.Close()
		if err != nil {
			t.Fatalf("mmap(flags %#x): %v", flags, err)
		}
		if !bytes.Equal(m, mmapData) {
			t.Fatalf("mmap(flags %#x) shows other bytes", flags)
		}
		ok(t, syscall.Munmap(m))
	}
	t.Log("mmap ok")
}

// TestFollowChecksEveryHead: a read-only mount gives every head it would
// show to Options.CheckHead (the device's rollback check) first: at Open,
// and for each commit it follows. A refused head is never shown; a refused
// head at Open refuses the mount.
func TestFollowChecksEveryHead(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	var refuse atomic.Uint64 // refuse heads with this seq
	var mu sync.Mutex
	var seen []uint64
	check := func(h meta.Head) error {
		mu.Lock()
		seen = append(seen, h.Seq)
		mu.Unlock()
		if h.Seq == refuse.Load() {
			return fmt.Errorf("seq %d: %w", h.Seq, meta.ErrRollback)
		}
		return nil
	}
	ro, logs := v.follower(t, func(o *Options) { o.CheckHead = check })
	w := v.mount(t, func(o *Options) { o.CommitInterval = time.Hour })
	ok(t, os.WriteFile(w.path("one"), []byte("1"), 0o644))
	commitNow(t, w)
	eventually(t, "first commit", func() error { return hasContent(ro.path("one"), []byte("1")) })

	refuse.Store(w.m.Vault().Head().Seq + 1)
	ok(t, os.WriteFile(w.path("two"), []byte("2"), 0o644))
	commitNow(t, w)
	eventually(t, "the refused head logged", func() error { return logged(logs, "older than one this device has seen") })
	ok(t, isGone(ro.path("two")))

	ok(t, os.WriteFile(w.path("three"), []byte("3"), 0o644))
	commitNow(t, w)
	eventually(t, "the next commit", func() error { return hasContent(ro.path("three"), []byte("3")) })

	refuse.Store(w.m.Vault().Head().Seq)
	_, err := Open(context.Background(), Options{Store: v.store, Keys: v.keys, ReadOnly: true, CheckHead: check})
	if !errors.Is(err, meta.ErrRollback) {
		t.Fatalf("Open of a head the check refuses: %v, want ErrRollback", err)
	}
}
