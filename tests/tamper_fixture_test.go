package tests

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// bucketState is every object of a vault, by key: a copy of the bucket at
// one moment, which a tamper case edits and puts into a fresh bucket.
type bucketState map[string][]byte

func (b bucketState) clone() bucketState {
	c := bucketState{}
	for k, v := range b {
		c[k] = bytes.Clone(v)
	}
	return c
}

// tamperFixture is a vault written by the real binary on MinIO at three
// moments, with the content every file had at each.
type tamperFixture struct {
	env    map[string]string
	pass   []string
	rk     string  // the recovery key
	writer *device // the device that wrote everything and saw the newest head
	keys   *crypt.Keys
	// analyses of first, live and final, by name: read-only, shared by
	// the cases (which run in parallel).
	analyses map[string]*analysis
	// first: after the first clean unmount. live: during the second mount,
	// after two fsyncs, so head names journal batches on top of a snapshot
	// (and the writer still holds the lease). final: after the second
	// clean unmount.
	first, live, final                bucketState
	firstFiles, liveFiles, finalFiles map[string][]byte
}

// writeTamperFixture makes the fixture: plain chat-backup files, one of
// them rewritten in the second mount (so its old chunks are an "older
// version" still in the bucket), files of several chunks (4 MiB each).
func writeTamperFixture(t *testing.T) *tamperFixture {
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	loc := "s3://" + bucket + "/vault"
	fx := &tamperFixture{
		env: map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey,
			"AWS_ENDPOINT_URL": srv.Endpoint, "AWS_REGION": "us-east-1"},
		pass: []string{"SEALFS_PASSPHRASE=tamper table passphrase"},
	}
	fx.writer = newDevice(t, "writer", fx.env)
	out := fx.writer.ok(fx.pass, append(append([]string{"init"}, fastKDF...), loc)...)
	fx.rk = parseRecoveryKey(t, out.stdout)
	store := s3test.OpenStore(t, bucket, "vault")

	files := map[string][]byte{
		"msgstore.db":              tamperContent(1, 4<<20+70_000), // two chunks
		"media/IMG-0001.jpg":       tamperContent(2, 300_000),
		"media/IMG-0002.jpg":       tamperContent(3, 200_001),
		"media/VID-0003.mp4":       tamperContent(4, 2*(4<<20)+5), // three chunks
		"notes.txt":                []byte("call mum on sunday\n"),
		"Backups/wa.db.crypt15":    tamperContent(5, 65_536),
		"Backups/old/wa.db.crypt1": tamperContent(6, 1),
	}
	mnt := fx.writer.mount(fx.pass, loc, "--device", "writer")
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mnt, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(mnt, name), data)
	}
	fx.writer.ok(nil, "umount", mnt)
	fx.first, fx.firstFiles = dumpBucket(t, store), maps.Clone(files)

	// The nightly rewrite: new content through a temporary file renamed over
	// the old one, then a new photo; each fsynced, so each is a commit.
	// Each commit also sets a 40 KiB xattr of random bytes, so that its
	// journal batch is too big to ride inline in head (format 2) and the
	// journal batch cases have objects to tamper with.
	mnt = fx.writer.mount(fx.pass, loc, "--device", "writer")
	bigXattr := func(seed uint64) {
		if err := unix.Setxattr(filepath.Join(mnt, "notes.txt"), "user.pad", tamperContent(seed, 40<<10), 0); err != nil {
			t.Fatal(err)
		}
	}
	bigXattr(70)
	files["msgstore.db"] = tamperContent(7, 4<<20+80_000)
	writeFile(t, filepath.Join(mnt, "msgstore.db.tmp"), files["msgstore.db"])
	if err := os.Rename(filepath.Join(mnt, "msgstore.db.tmp"), filepath.Join(mnt, "msgstore.db")); err != nil {
		t.Fatal(err)
	}
	bigXattr(80)
	files["media/IMG-0004.jpg"] = tamperContent(8, 123_457)
	writeFile(t, filepath.Join(mnt, "media/IMG-0004.jpg"), files["media/IMG-0004.jpg"])
	fx.live, fx.liveFiles = dumpBucket(t, store), maps.Clone(files)
	fx.writer.ok(nil, "umount", mnt)
	fx.final, fx.finalFiles = dumpBucket(t, store), files

	v, err := crypt.ParseVault(fx.final["vault.json"])
	if err != nil {
		t.Fatal(err)
	}
	rk, err := crypt.ParseRecoveryKey(fx.rk)
	if err != nil {
		t.Fatal(err)
	}
	master, err := v.UnlockRecovery(rk) // no Argon2 in the test process
	if err != nil {
		t.Fatal(err)
	}
	fx.keys = crypt.DeriveKeys(master, v.Suite(), v.ChunkSize())
	fx.analyses = map[string]*analysis{
		"first": fx.analyze(t, fx.first), "live": fx.analyze(t, fx.live), "final": fx.analyze(t, fx.final),
	}
	return fx
}

// recovery is the environment that unlocks the vault with its recovery
// key: no Argon2 (0.4 s of CPU a run with the passphrase), for cases
// whose checks all come after the unlock.
func (fx *tamperFixture) recovery() []string {
	return []string{"SEALFS_RECOVERY_KEY=" + fx.rk}
}

// tamperContent is n distinct pseudo-random bytes for one seed.
func tamperContent(seed uint64, n int) []byte { return pseudoRandom(seed, n) }

// dumpBucket reads every object of store.
func dumpBucket(t *testing.T, store remote.Store) bucketState {
	t.Helper()
	ctx := context.Background()
	st := bucketState{}
	err := store.List(ctx, "", func(info remote.ObjectInfo) error {
		data, _, err := store.Get(ctx, info.Key)
		st[info.Key] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// analysis is what the test knows about one bucket state by opening it
// with the keys: the metadata chain head names and the data objects of
// every file.
type analysis struct {
	head    meta.Head
	chain   []meta.ObjectRef    // snapshot first, then the journal batches
	objects map[string][]string // data key -> paths of the files using it
	ofFile  map[string][]string // path -> its data keys, in file order
}

func (fx *tamperFixture) analyze(t *testing.T, st bucketState) *analysis {
	t.Helper()
	ctx := context.Background()
	mem := remote.NewMemory()
	for k, v := range st {
		if _, err := mem.Put(ctx, k, v, remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tree, log, err := meta.Open(ctx, mem, fx.keys, meta.LogOptions{})
	if err != nil {
		t.Fatalf("the untouched state does not open: %v", err)
	}
	a := &analysis{head: log.Head(), chain: log.Chain(), objects: map[string][]string{}, ofFile: map[string][]string{}}
	var walk func(dir meta.Ino, prefix string)
	walk = func(dir meta.Ino, prefix string) {
		ents, err := tree.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := path.Join(prefix, e.Name)
			ino, _ := tree.Get(e.Ino)
			if e.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				walk(e.Ino, p)
				continue
			}
			for _, x := range ino.Extents {
				if !x.IsHole() {
					k := layout.DataKey(x.Object)
					a.objects[k] = append(a.objects[k], p)
					a.ofFile[p] = append(a.ofFile[p], k)
				}
			}
		}
	}
	walk(meta.RootIno, "")
	return a
}

// chainKey returns the key of the snapshot (kind "snap") or of the last
// journal batch (kind "jrnl") head names.
func (a *analysis) chainKey(t *testing.T, kind string) string {
	t.Helper()
	for i := len(a.chain) - 1; i >= 0; i-- {
		if strings.HasSuffix(a.chain[i].Key, "."+kind) {
			return a.chain[i].Key
		}
	}
	t.Fatalf("head names no %s object: %+v", kind, a.chain)
	return ""
}

func flipByte(b []byte, at int) []byte {
	if at < 0 {
		at += len(b)
	}
	b = bytes.Clone(b)
	b[at] ^= 0x40
	return b
}

// upload puts st into a fresh bucket and returns its location.
func (fx *tamperFixture) upload(t *testing.T, st bucketState) string {
	t.Helper()
	bucket := s3test.NewBucket(t)
	store := s3test.OpenStore(t, bucket, "vault")
	for k, v := range st {
		if _, err := store.Put(context.Background(), k, v, remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return "s3://" + bucket + "/vault"
}

// writerState copies the writer device's local state (its high-water
// mark) into a cache directory for a mount of a copy of its bucket.
func (fx *tamperFixture) writerState(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(fx.writer.cacheDir(), "sealfs", "*"))
	if len(dirs) != 1 {
		t.Fatalf("the writer has %d vault cache directories, want 1", len(dirs))
	}
	dst := filepath.Join(t.TempDir(), "cache")
	if err := os.CopyFS(dst, os.DirFS(dirs[0])); err != nil {
		t.Fatal(err)
	}
	return dst
}
