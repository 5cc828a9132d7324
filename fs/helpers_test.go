package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// testChunk is the chunk size of test vaults: small, so that tests cross
// chunk boundaries cheaply; a multiple of the segment size as required.
const testChunk = 256 << 10

func TestMain(m *testing.M) {
	flag.Parse()
	s3test.Main(m)
}

// testTuning keeps retries of staged uploads quick in tests: a store that
// comes back is used again within half a second.
var testTuning = vault.Tuning{UploadBackoffMax: 500 * time.Millisecond}

// lingerAnHour makes small versions wait an hour for pack mates: only an
// explicit send (fsync, commit, memory pressure) can move them.
func lingerAnHour(o *Options) { o.Tuning.PackLinger = time.Hour }

// testVault is a fresh vault in a store, with its keys.
type testVault struct {
	store remote.Store
	keys  *crypt.Keys
}

// newVault creates an empty vault in store with a random master key.
func newVault(t testing.TB, store remote.Store, chunk int) *testVault {
	t.Helper()
	var master crypt.Key
	if _, err := rand.Read(master[:]); err != nil {
		t.Fatal(err)
	}
	keys := crypt.DeriveKeys(master, crypt.SuiteAES256GCM, chunk)
	tree := meta.NewTree(chunk, uint32(os.Getuid()), uint32(os.Getgid()), time.Now().UnixNano())
	if _, err := meta.Create(context.Background(), store, keys, tree, meta.LogOptions{Device: "test"}); err != nil {
		t.Fatalf("meta.Create: %v", err)
	}
	return &testVault{store: store, keys: keys}
}

// stores are the stores every store-parameterised test runs against.
var stores = []struct {
	name string
	new  func(testing.TB) remote.Store
}{
	{"memory", func(testing.TB) remote.Store { return remote.NewMemory() }},
	{"minio", s3test.NewStore},
}

// forEachStore runs fn against a fresh vault in each kind of store.
func forEachStore(t *testing.T, fn func(t *testing.T, v *testVault)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			s3test.RequireFUSE(t)
			fn(t, newVault(t, s.new(t), testChunk))
		})
	}
}

// mounted is one test mount.
type mounted struct {
	store remote.Store // the vault's store, as the test reads it
	dir   string
	cache string
	m     *Mounted
	conn  uint32 // the kernel's id of its FUSE connection (the mount's device minor)
}

// mount mounts v at a fresh directory with a fresh cache directory (as a
// new device would) and unmounts it when the test ends.
func (v *testVault) mount(t testing.TB, tweak ...func(*Options)) *mounted {
	t.Helper()
	s3test.RequireFUSE(t)
	dir, cache := t.TempDir(), t.TempDir()
	opts := Options{Store: v.store, Keys: v.keys, CacheDir: cache, Device: "test",
		CommitInterval: 200 * time.Millisecond, Tuning: testTuning}
	for _, fn := range tweak {
		fn(&opts)
	}
	m, err := Mount(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	mt := &mounted{store: opts.Store, dir: dir, cache: cache, m: m}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err == nil {
		mt.conn = unix.Minor(st.Dev)
	}
	t.Cleanup(func() { mt.unmount(t) })
	return mt
}

// unmount unmounts (again is fine) and fails the test if the final commit
// failed. A mount still busy (a failed test left files open) is detached
// lazily, so that no stale mount outlives the test process; if files are
// still open on it after busyGrace, its FUSE connection is aborted. Else
// the test would wait for them forever, and the test binary, killed at
// its timeout, would hang in the kernel at exit: closing those files
// sends a FLUSH to its own FUSE server, which is gone.
func (mt *mounted) unmount(t testing.TB) {
	t.Helper()
	err := mt.m.Unmount()
	if errors.Is(err, ErrBusy) {
		_ = syscall.Unmount(mt.dir, syscall.MNT_DETACH)
		done := make(chan error, 1)
		go func() { done <- mt.m.Wait() }()
		select {
		case werr := <-done:
			err = errors.Join(err, werr)
		case <-time.After(busyGrace):
			aerr := abortConnection(mt.conn)
			err = errors.Join(err, fmt.Errorf("files still open %v after a lazy unmount: FUSE connection %d aborted (%v)", busyGrace, mt.conn, aerr), <-done)
		}
	}
	if err != nil {
		t.Errorf("Unmount: %v", err)
	}
}

// busyGrace is how long a lazily unmounted test mount may stay open.
const busyGrace = 5 * time.Second

// abortConnection aborts FUSE connection id (fusectl, mounted if it is
// not): every request on it fails from now on, its server sees the
// device close, and closing a file on it no longer waits for a reply.
func abortConnection(id uint32) error {
	const ctl = "/sys/fs/fuse/connections"
	if id == 0 {
		return errors.New("connection unknown")
	}
	abort := filepath.Join(ctl, strconv.FormatUint(uint64(id), 10), "abort")
	if _, err := os.Stat(abort); errors.Is(err, fs.ErrNotExist) {
		_ = syscall.Mount("fusectl", ctl, "fusectl", 0, "")
	}
	return os.WriteFile(abort, []byte("1"), 0o200)
}

func (mt *mounted) path(name string) string { return filepath.Join(mt.dir, name) }

// assertNoPlaintext fails if any marker appears in a file under dirs or in
// any object of store, as a name or in the content.
func assertNoPlaintext(t testing.TB, markers [][]byte, dirs []string, store remote.Store) {
	t.Helper()
	check := func(where string, name string, data []byte) {
		for _, m := range markers {
			if bytes.Contains([]byte(name), m) || bytes.Contains(data, m) {
				t.Errorf("plaintext marker %q found in %s %s", m, where, name)
			}
		}
	}
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			check("local file", p, data)
			return nil
		})
		if err != nil {
			t.Errorf("scan %s: %v", d, err)
		}
	}
	ctx := context.Background()
	n := 0
	err := store.List(ctx, "", func(info remote.ObjectInfo) error {
		data, _, err := store.Get(ctx, info.Key)
		if err != nil {
			return err
		}
		n++
		check("object", info.Key, data)
		return nil
	})
	if err != nil {
		t.Errorf("scan store: %v", err)
	}
	if n == 0 {
		t.Errorf("store holds no objects: nothing was scanned")
	}
}

// marker returns a distinctive plaintext string for the test.
func marker(t testing.TB, what string) string {
	return "sealfs-marker-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + what
}

// pattern returns n bytes that differ at every offset for one seed, so a
// misplaced or stale byte is caught.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// Options are the engine's (the tests here mount through the FUSE layer).
type Options = vault.Options

// Open is vault.Open, for tests that look at a vault without mounting it.
var Open = vault.Open
