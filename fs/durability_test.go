package fs

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// readOnly mounts a second, read-only view of the vault: a fresh engine
// that sees only what is committed in the store.
func (v *testVault) readOnly(t *testing.T) *mounted {
	return v.mount(t, func(o *Options) { o.ReadOnly = true })
}

// TestFsyncIsDurable: after fsync returns, without close or unmount, a new
// device sees the data.
func TestFsyncIsDurable(t *testing.T) {
	forEachStore(t, func(t *testing.T, v *testVault) {
		mt := v.mount(t, func(o *Options) { o.CommitInterval = time.Hour })
		data := pattern(20, 2*testChunk+5)
		f, err := os.Create(mt.path("synced"))
		ok(t, err)
		defer f.Close()
		_, err = f.Write(data)
		ok(t, err)
		ok(t, f.Sync())
		ro := v.readOnly(t)
		wantContent(t, ro.path("synced"), data)
		mustErrno(t, os.WriteFile(ro.path("new"), nil, 0o644), syscall.EROFS)
	})
}

// TestClosePublishes: close starts the upload and the commit loop commits
// it within a few intervals, with no fsync.
func TestClosePublishes(t *testing.T) {
	forEachStore(t, func(t *testing.T, v *testVault) {
		mt := v.mount(t)
		data := pattern(21, testChunk+9)
		ok(t, os.WriteFile(mt.path("closed"), data, 0o644))
		deadline := time.Now().Add(10 * time.Second)
		for {
			fsys, err := Open(context.Background(), Options{Store: v.store, Keys: v.keys, ReadOnly: true})
			ok(t, err)
			in, err := fsys.Tree().Lookup(meta.RootIno, "closed")
			ok(t, fsys.Close(context.Background()))
			if err == nil && in.Size == uint64(len(data)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("closed file not committed after 10s: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestUnmountCommitsEverything: files still being written when unmount
// begins (closed just before) are all in the store when Wait returns.
func TestUnmountCommitsEverything(t *testing.T) {
	forEachStore(t, func(t *testing.T, v *testVault) {
		mt := v.mount(t, func(o *Options) { o.CommitInterval = time.Hour })
		want := map[string][]byte{}
		for i := range 20 {
			name := "f" + string(rune('a'+i))
			want[name] = pattern(byte(i), i*testChunk/3+1)
			ok(t, os.WriteFile(mt.path(name), want[name], 0o644))
		}
		mt.unmount(t)
		if done, total := mt.m.Progress(); done != total {
			t.Errorf("progress after unmount %d/%d", done, total)
		}
		ro := v.readOnly(t)
		for name, data := range want {
			wantContent(t, ro.path(name), data)
		}
	})
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestBadBucketData: a deleted or altered data object makes only its file
// fail with EIO, logged once with object id and path; other files read
// fine and the tree keeps working.
func TestBadBucketData(t *testing.T) {
	damage := map[string]func(t *testing.T, v *testVault, key string){
		"deleted": func(t *testing.T, v *testVault, key string) {
			ok(t, v.store.Delete(context.Background(), key))
		},
		"byte flipped": func(t *testing.T, v *testVault, key string) {
			data, _, err := v.store.Get(context.Background(), key)
			ok(t, err)
			data[len(data)/2] ^= 0x01
			_, err = v.store.Put(context.Background(), key, data, remote.PutOptions{})
			ok(t, err)
		},
		"truncated": func(t *testing.T, v *testVault, key string) {
			data, _, err := v.store.Get(context.Background(), key)
			ok(t, err)
			_, err = v.store.Put(context.Background(), key, data[:len(data)-100], remote.PutOptions{})
			ok(t, err)
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, v *testVault) {
				mt := v.mount(t)
				bad, good := pattern(30, 2*testChunk), pattern(31, 2*testChunk)
				ok(t, os.Mkdir(mt.path("dir"), 0o755))
				ok(t, os.WriteFile(mt.path("dir/bad"), bad, 0o644))
				ok(t, os.WriteFile(mt.path("good"), good, 0o644))
				mt.unmount(t)
				fsys, err := Open(context.Background(), Options{Store: v.store, Keys: v.keys, ReadOnly: true})
				ok(t, err)
				dir, err := fsys.Tree().Lookup(meta.RootIno, "dir")
				ok(t, err)
				in, err := fsys.Tree().Lookup(dir.Ino, "bad")
				ok(t, err)
				ok(t, fsys.Close(context.Background()))
				victim := in.Extents[1].Object
				fn(t, v, layout.DataKey(victim))

				var logs logBuffer
				mt2 := v.mount(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
				for range 2 {
					_, err := os.ReadFile(mt2.path("dir/bad"))
					mustErrno(t, err, syscall.EIO)
				}
				// The first chunk is intact and still reads.
				f, err := os.Open(mt2.path("dir/bad"))
				ok(t, err)
				head := make([]byte, 1000)
				_, err = f.ReadAt(head, 0)
				ok(t, err)
				ok(t, f.Close())
				if !bytes.Equal(head, bad[:1000]) {
					t.Errorf("intact chunk of the damaged file reads wrong bytes")
				}
				wantContent(t, mt2.path("good"), good)
				ok(t, os.WriteFile(mt2.path("new"), []byte("still writable"), 0o644))
				out := logs.String()
				if n := strings.Count(out, "object="+victim.String()); n != 1 {
					t.Errorf("object %s logged %d times, want once:\n%s", victim, n, out)
				}
				if !strings.Contains(out, "dir/bad") {
					t.Errorf("log does not name the file:\n%s", out)
				}
			})
		})
	}
}

// TestRewriteIsAtomicInCommits: a file rewritten in place (O_TRUNC, then
// new content) is committed as the old or the new content, never as the
// emptied or half-written file, even when a commit happens mid-rewrite.
func TestRewriteIsAtomicInCommits(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	mt := v.mount(t, func(o *Options) { o.CommitInterval = time.Hour })
	old, new := pattern(50, 3*testChunk), pattern(51, 2*testChunk+7)
	ok(t, os.WriteFile(mt.path("db"), old, 0o644))
	ok(t, mt.m.Sync(context.Background()))
	f, err := os.OpenFile(mt.path("db"), os.O_WRONLY|os.O_TRUNC, 0)
	ok(t, err)
	_, err = f.Write(new[:testChunk+5])
	ok(t, err)
	ok(t, mt.m.Vault().FsyncDir(context.Background())) // a periodic commit mid-rewrite
	committed := func() uint64 {
		fsys, err := Open(context.Background(), Options{Store: v.store, Keys: v.keys, ReadOnly: true})
		ok(t, err)
		defer fsys.Close(context.Background())
		in, err := fsys.Tree().Lookup(meta.RootIno, "db")
		ok(t, err)
		return in.Size
	}
	if got := committed(); got != uint64(len(old)) {
		t.Errorf("mid-rewrite commit holds a %d-byte file, want the old %d bytes", got, len(old))
	}
	_, err = f.Write(new[testChunk+5:])
	ok(t, err)
	ok(t, f.Close())
	ok(t, mt.m.Sync(context.Background()))
	if got := committed(); got != uint64(len(new)) {
		t.Errorf("after close the commit holds %d bytes, want %d", got, len(new))
	}
	wantContent(t, v.readOnly(t).path("db"), new)
}

// TestRenameOverIsAtomicInCommits: the backup pattern (write a temporary
// file, close, rename it over the old one) never commits the new name
// without the new content, even when the commit comes while the upload is
// still running.
func TestRenameOverIsAtomicInCommits(t *testing.T) {
	store := faults.New(remote.NewMemory())
	v := newVault(t, store, testChunk)
	mt := v.mount(t, func(o *Options) { o.CommitInterval = time.Hour })
	old, new := pattern(52, testChunk), pattern(53, 2*testChunk+3)
	ok(t, os.WriteFile(mt.path("db"), old, 0o644))
	ok(t, mt.m.Sync(context.Background()))
	store.Inject(faults.Put, faults.Delay(300*time.Millisecond).If(faults.KeyPrefix("data/")))
	ok(t, os.WriteFile(mt.path("db.tmp"), new, 0o644))
	ok(t, syscall.Rename(mt.path("db.tmp"), mt.path("db")))
	ok(t, mt.m.Vault().FsyncDir(context.Background()))
	fsys, err := Open(context.Background(), Options{Store: v.store, Keys: v.keys, ReadOnly: true})
	ok(t, err)
	defer fsys.Close(context.Background())
	in, err := fsys.Tree().Lookup(meta.RootIno, "db")
	ok(t, err)
	if in.Size != uint64(len(new)) {
		t.Errorf("committed db has %d bytes, want the new %d", in.Size, len(new))
	}
}
