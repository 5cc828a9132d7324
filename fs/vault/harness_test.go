package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
	"github.com/sealfs/sealfs/remote/s3test"
)

// The engine's own tests: they drive a Vault through its Go API, the way
// every front door does, with no FUSE mount (the FUSE layer's tests in
// package fs check what the kernel adds). The helpers below give them a
// path-level file API on top of inode numbers.

// testChunk is the chunk size of test vaults: small, so that tests cross
// chunk boundaries cheaply; a multiple of the segment size as required.
const testChunk = 256 << 10

func TestMain(m *testing.M) {
	flag.Parse()
	s3test.Main(m)
}

// testTuning keeps retries of staged uploads quick in tests: a store that
// comes back is used again within half a second.
var testTuning = Tuning{UploadBackoffMax: 500 * time.Millisecond}

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
func forEachStore(t *testing.T, fn func(t *testing.T, tv *testVault)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { fn(t, newVault(t, s.new(t), testChunk)) })
	}
}

// forEachFaultStore is forEachStore with a fault-injecting wrapper.
func forEachFaultStore(t *testing.T, fn func(t *testing.T, store *faults.Store, tv *testVault)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			store := faults.New(s.new(t))
			fn(t, store, newVault(t, store, testChunk))
		})
	}
}

// opened is an open Vault on one simulated device (its cache directory).
type opened struct {
	*Vault
	cache string
}

// open opens tv read-write with a fresh cache directory, as a new device
// would; the test's end closes it (and fails the test if that fails).
func (tv *testVault) open(t testing.TB, tweak ...func(*Options)) *opened {
	t.Helper()
	return tv.openCache(t, tv.store, t.TempDir(), tweak...)
}

// openCache opens the vault in store with the cache directory cache
// (the same device across opens).
func (tv *testVault) openCache(t testing.TB, store remote.Store, cache string, tweak ...func(*Options)) *opened {
	t.Helper()
	opts := Options{Store: store, Keys: tv.keys, CacheDir: cache, Device: "test",
		CommitInterval: 200 * time.Millisecond, FsyncTimeout: 10 * time.Second, Tuning: testTuning}
	for _, fn := range tweak {
		fn(&opts)
	}
	v, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	o := &opened{Vault: v, cache: cache}
	t.Cleanup(func() { _ = v.Close(context.Background()) })
	return o
}

// readOnly opens tv read-only on a fresh device, not following.
func (tv *testVault) readOnly(t testing.TB) *opened {
	t.Helper()
	return tv.open(t, func(o *Options) { o.ReadOnly = true; o.FollowInterval = -1 })
}

// close closes o and fails the test if the final commit failed.
func (o *opened) close(t testing.TB) {
	t.Helper()
	if err := o.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// lookupPath resolves a slash-separated path from the root.
func (v *Vault) lookupPath(p string) (meta.Inode, error) {
	in, err := v.Getattr(meta.RootIno)
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if err != nil || part == "" {
			break
		}
		in, err = v.Lookup(in.Ino, part)
	}
	return in, err
}

// mkdirPath makes directory p and its parents.
func (v *Vault) mkdirPath(p string) (meta.Ino, error) {
	dir := meta.RootIno
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		in, err := v.Lookup(dir, part)
		if errors.Is(err, syscall.ENOENT) {
			in, err = v.Mkdir(dir, part, syscall.S_IFDIR|0o755, 0, 0)
		}
		if err != nil {
			return 0, fmt.Errorf("mkdir %s: %w", part, err)
		}
		dir = in.Ino
	}
	return dir, nil
}

// create opens p for writing, creating it (and its parents) or
// truncating it, as os.Create does: open, then truncate through the open
// file, in the order the kernel sends them for O_TRUNC.
func (v *Vault) create(p string) (*File, error) {
	dir, err := v.mkdirPath(path.Dir("/" + p))
	if err != nil {
		return nil, err
	}
	in, err := v.Lookup(dir, path.Base(p))
	exists := err == nil
	if errors.Is(err, syscall.ENOENT) {
		in, err = v.Create(dir, path.Base(p), syscall.S_IFREG|0o644, 0, 0)
	}
	if err != nil {
		return nil, err
	}
	f, err := v.OpenFile(in.Ino, syscall.O_RDWR)
	if err != nil || !exists {
		return f, err
	}
	size := uint64(0)
	if _, err := v.SetAttr(context.Background(), in.Ino, meta.SetAttrIn{Size: &size}); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

// writeFile is os.WriteFile on the vault: create or truncate, write, close.
func (v *Vault) writeFile(p string, data []byte) error {
	f, err := v.create(p)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err = f.WriteAt(context.Background(), data, 0); err != nil {
			f.Release()
			return err
		}
	}
	err = f.Flush()
	f.Release()
	return err
}

// readFile is os.ReadFile on the vault.
func (v *Vault) readFile(p string) ([]byte, error) {
	in, err := v.lookupPath(p)
	if err != nil {
		return nil, err
	}
	f, err := v.OpenFile(in.Ino, syscall.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	buf := make([]byte, in.Size)
	n, err := f.ReadAt(context.Background(), buf, 0)
	return buf[:n], err
}

// writeFiles writes files path -> content, closing each.
func writeFiles(t testing.TB, v *Vault, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		ok(t, v.writeFile(name, data))
	}
}

// wantFiles checks that v holds exactly these contents at these paths.
func wantFiles(t testing.TB, v *Vault, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		wantContent(t, v, name, data)
	}
}

// wantContent checks the content of p.
func wantContent(t testing.TB, v *Vault, p string, want []byte) {
	t.Helper()
	got, err := v.readFile(p)
	if err != nil {
		t.Errorf("read %s: %v", p, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes, want %d (content differs)", p, len(got), len(want))
	}
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pattern returns n bytes that depend on seed and position.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// eventually retries check until it returns nil, failing the test with
// its last error after a deadline a healthy run misses by far.
func eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countData counts the data objects in store.
func countData(t testing.TB, store remote.Store) int {
	t.Helper()
	n := 0
	ok(t, store.List(context.Background(), "data/", func(remote.ObjectInfo) error { n++; return nil }))
	return n
}

// outage makes every call of s fail as a store that went away does:
// resets and 503s.
func outage(s *faults.Store) {
	s.Inject(faults.Any, faults.Fail(faults.ErrReset).If(func(c faults.Call) bool { return c.N%2 == 0 }))
	s.Inject(faults.Any, faults.Fail(faults.ErrUnavailable))
}

// stagedObjects counts the sealed objects waiting in a cache directory's
// staging area.
func stagedObjects(t testing.TB, cache string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(cache, stage.DirName, "objects"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	ok(t, err)
	return len(ents)
}

// hasIntent reports whether a cache directory holds an intent log.
func hasIntent(cache string) bool {
	_, err := os.Stat(filepath.Join(cache, stage.DirName, "intent"))
	return err == nil
}
