package fs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
	"github.com/sealfs/sealfs/remote/s3test"
)

// mountCache mounts v with store and a given cache directory (the same
// device across mounts). The test checks Unmount itself; the cleanup only
// makes sure nothing stays mounted.
func (v *testVault) mountCache(t testing.TB, store remote.Store, cache string, tweak ...func(*Options)) *mounted {
	t.Helper()
	s3test.RequireFUSE(t)
	dir := t.TempDir()
	opts := Options{Store: store, Keys: v.keys, CacheDir: cache, Device: "test",
		CommitInterval: 200 * time.Millisecond, FsyncTimeout: 10 * time.Second, Tuning: testTuning}
	for _, fn := range tweak {
		fn(&opts)
	}
	m, err := Mount(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	mt := &mounted{store: opts.Store, dir: dir, cache: cache, m: m}
	t.Cleanup(func() {
		if err := m.Unmount(); errors.Is(err, ErrBusy) {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
			_ = m.Wait()
		}
	})
	return mt
}

// stagedObjects counts the objects in a cache directory's staging area.
func stagedObjects(t *testing.T, cache string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(cache, stage.DirName, "objects"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	ok(t, err)
	return len(ents)
}

func hasIntent(cache string) bool {
	_, err := os.Stat(filepath.Join(cache, stage.DirName, "intent"))
	return err == nil
}

// writeFilesWithin writes files in the background and reports whether
// that finished within d; if not, unstick is called and the writes are
// waited for (so that no open file keeps the mount busy).
func writeFilesWithin(t *testing.T, dir string, files map[string][]byte, d time.Duration, unstick func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		writeFiles(t, dir, files)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		unstick()
		<-done
		return false
	}
}

// writeFiles writes files name -> content, closing each.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		ok(t, os.MkdirAll(filepath.Dir(p), 0o755))
		ok(t, os.WriteFile(p, data, 0o644))
	}
}

func wantFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		wantContent(t, filepath.Join(dir, name), data)
	}
}

// outage cuts a store completely: every call fails like an unreachable
// server (503 for some, connection resets for others).
func outage(s *faults.Store) {
	s.Inject(faults.Any, faults.Fail(faults.ErrReset).If(func(c faults.Call) bool { return c.N%2 == 0 }))
	s.Inject(faults.Any, faults.Fail(faults.ErrUnavailable))
}

// faultStores are the stores the outage tests run on, each behind the
// fault injector.
func forEachFaultStore(t *testing.T, fn func(t *testing.T, store *faults.Store, v *testVault)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			s3test.RequireFUSE(t)
			store := faults.New(s.new(t))
			fn(t, store, newVault(t, store, testChunk))
		})
	}
}

// minioBehindProxy returns a store on a fresh MinIO bucket reached through
// a proxy that the test can cut.
func minioBehindProxy(t *testing.T) (remote.Store, *s3test.Proxy) {
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	p := s3test.NewProxy(t, strings.TrimPrefix(srv.Endpoint, "http://"))
	opts := srv.Options()
	opts.Endpoint = "http://" + p.Addr()
	opts.Retry = remote.RetryOptions{MaxAttempts: 2, BaseDelay: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
	s, err := remote.NewS3(bucket, "p", opts)
	ok(t, err)
	return s, p
}
