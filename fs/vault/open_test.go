package vault

import (
	"context"
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/localstate"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// TestCreateUnlock: a vault made by Create opens with its passphrase and
// its recovery key; a wrong secret, an edited vault.json and a store with
// no vault are told apart; Create never overwrites a vault.
func TestCreateUnlock(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	if _, err := Unlock(ctx, s, Secret{Passphrase: []byte("x")}); !errors.Is(err, ErrNoVault) {
		t.Fatalf("Unlock of an empty store: %v, want ErrNoVault", err)
	}
	pass := []byte("correct horse battery staple")
	u, rk, err := Create(ctx, s, CreateOptions{Suite: crypt.SuiteAES256GCM, KDF: crypt.MinKDF, Passphrase: pass, Device: "test"})
	ok(t, err)
	if _, _, err := Create(ctx, s, CreateOptions{Suite: crypt.SuiteAES256GCM, KDF: crypt.MinKDF, Passphrase: pass}); !errors.Is(err, ErrVaultExists) {
		t.Fatalf("Create over a vault: %v, want ErrVaultExists", err)
	}
	for _, sec := range []Secret{{Passphrase: pass}, {RecoveryKey: &rk}} {
		got, err := Unlock(ctx, s, sec)
		ok(t, err)
		if got.Master != u.Master || got.Keys.ChunkSize != crypt.DefaultChunkSize {
			t.Errorf("Unlock opened another vault")
		}
	}
	if _, err := Unlock(ctx, s, Secret{Passphrase: []byte("wrong")}); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("a wrong passphrase: %v", err)
	}
	var otherRK crypt.RecoveryKey
	otherRK[0] = 1
	if _, err := Unlock(ctx, s, Secret{RecoveryKey: &otherRK}); !errors.Is(err, ErrWrongRecoveryKey) {
		t.Errorf("a wrong recovery key: %v", err)
	}
	// The first commit is there: the vault opens.
	v, err := Open(ctx, Options{Store: s, Keys: u.Keys, ReadOnly: true})
	ok(t, err)
	ok(t, v.Close(ctx))
}

// TestEnsureHead: a vault whose creation stopped before its first commit
// gets it on a read-write open and is refused read-only; a vault that
// holds data but lost its head is refused either way, never shown empty.
func TestEnsureHead(t *testing.T) {
	ctx := context.Background()
	tv := newVault(t, remote.NewMemory(), testChunk)
	w := tv.open(t)
	ok(t, w.writeFile("chat.db", pattern(1, 5000)))
	w.close(t)
	ok(t, EnsureHead(ctx, tv.store, tv.keys, true, "test"))
	ok(t, tv.store.Delete(ctx, layout.Head))
	for _, ro := range []bool{true, false} {
		if err := EnsureHead(ctx, tv.store, tv.keys, ro, "test"); !errors.Is(err, ErrHeadLost) {
			t.Errorf("read-only %v: a vault with data and no head: %v, want ErrHeadLost", ro, err)
		}
	}
	fresh := remote.NewMemory()
	if _, err := fresh.Put(ctx, layout.Vault, []byte("{}"), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureHead(ctx, fresh, tv.keys, true, "test"); !errors.Is(err, ErrNoCommitYet) {
		t.Errorf("read-only, no commit yet: %v, want ErrNoCommitYet", err)
	}
	ok(t, EnsureHead(ctx, fresh, tv.keys, false, "test"))
	if _, err := meta.ReadHead(ctx, fresh, tv.keys); err != nil {
		t.Errorf("read-write: the first commit was not written: %v", err)
	}
}

// TestOpenDevice: a read-write open takes this device's lock (a second is
// ErrLocked) and the writer lease (another device is refused with
// *lease.HeldError) and lets both go at Close; a read-only open takes
// neither.
func TestOpenDevice(t *testing.T) {
	ctx := context.Background()
	tv := newVault(t, remote.NewMemory(), testChunk)
	// A vault.json of the current format: this test is about the
	// device's checks, not the upgrade (TestUpgradeVault).
	cur, _, _, err := crypt.NewVault(nil, crypt.SuiteAES256GCM, testChunk, []byte("device test passphrase"), crypt.MinKDF)
	ok(t, err)
	u := &Unlocked{Vault: cur, Keys: tv.keys}
	cache := t.TempDir()
	d, err := OpenDevice(ctx, tv.store, u, DeviceOptions{CacheDir: cache, Device: "laptop"})
	ok(t, err)
	if _, err := OpenDevice(ctx, tv.store, u, DeviceOptions{CacheDir: cache, Device: "laptop"}); !errors.Is(err, localstate.ErrLocked) {
		t.Errorf("a second read-write open on the device: %v, want ErrLocked", err)
	}
	var held *lease.HeldError
	if _, err := OpenDevice(ctx, tv.store, u, DeviceOptions{CacheDir: t.TempDir(), Device: "phone"}); !errors.As(err, &held) {
		t.Errorf("another device's read-write open: %v, want *lease.HeldError", err)
	}
	ro, err := OpenDevice(ctx, tv.store, u, DeviceOptions{CacheDir: t.TempDir(), Device: "phone", ReadOnly: true})
	ok(t, err)
	ok(t, ro.Close(ctx, true))
	v, err := Open(ctx, d.Options(Options{Keys: tv.keys}))
	ok(t, err)
	ok(t, v.writeFile("a", []byte("a")))
	ok(t, v.Close(ctx))
	ok(t, d.Close(ctx, true))
	d2, err := OpenDevice(ctx, tv.store, u, DeviceOptions{CacheDir: t.TempDir(), Device: "phone"})
	ok(t, err)
	ok(t, d2.Close(ctx, true))
}

// flipHead serves one head to the first read and another to every later
// one: a bucket that shows a check one commit and a load another.
type flipHead struct {
	*remote.Memory
	first, then []byte
	reads       int
}

func (f *flipHead) Get(ctx context.Context, key string) ([]byte, remote.ObjectInfo, error) {
	b, info, err := f.Memory.Get(ctx, key)
	if key == layout.Head && err == nil {
		if f.reads++; f.reads == 1 {
			b = f.first
		} else {
			b = f.then
		}
	}
	return b, info, err
}

// TestOpenRefusesAForkShownAfterTheCheck: a device that saw commit G opens
// a bucket that shows G to the first read of the head (the head check of
// EnsureHead) and a fork F with G's number (another writer's, on a
// rolled-back copy) to the load: the open refuses F. Issue 13: the CLI
// used to check the head it read first and load the one it read second.
func TestOpenRefusesAForkShownAfterTheCheck(t *testing.T) {
	ctx := context.Background()
	mem := remote.NewMemory()
	tv := newVault(t, mem, testChunk)
	w := tv.open(t)
	ok(t, w.writeFile("a", []byte("day one")))
	w.close(t)
	base := copyStore(t, mem)
	w = tv.open(t)
	ok(t, w.writeFile("b", []byte("day two")))
	w.close(t)
	genuine, _, err := mem.Get(ctx, layout.Head)
	ok(t, err)
	g, err := meta.ReadHead(ctx, mem, tv.keys)
	ok(t, err)

	f := (&testVault{store: base, keys: tv.keys}).open(t)
	ok(t, f.writeFile("c", []byte("a fork!")))
	f.close(t)
	forked, _, err := base.Get(ctx, layout.Head)
	ok(t, err)
	fh, err := meta.ReadHead(ctx, base, tv.keys)
	ok(t, err)
	if fh.Seq != g.Seq || fh.SameCommit(g) {
		t.Fatalf("the fork is commit %d, the genuine head %d: want the same number, another commit", fh.Seq, g.Seq)
	}
	ok(t, base.List(ctx, layout.MetaPrefix, func(o remote.ObjectInfo) error {
		b, _, err := base.Get(ctx, o.Key)
		if err == nil {
			_, err = mem.Put(ctx, o.Key, b, remote.PutOptions{})
		}
		return err
	}))

	st, err := State(mem, &Unlocked{Keys: tv.keys}, t.TempDir())
	ok(t, err)
	ok(t, st.Observe(g))
	flip := &flipHead{Memory: mem, first: genuine, then: forked}
	ok(t, EnsureHead(ctx, flip, tv.keys, true, "test"))
	_, err = Open(ctx, Options{Store: flip, Keys: tv.keys, ReadOnly: true, CheckHead: HeadGuard(st, false)})
	if !errors.Is(err, meta.ErrRollback) {
		t.Fatalf("Open of a fork shown after the check: %v, want ErrRollback", err)
	}
}

// copyStore returns a memory store with every object of s.
func copyStore(t *testing.T, s *remote.Memory) *remote.Memory {
	t.Helper()
	ctx := context.Background()
	c := remote.NewMemory()
	ok(t, s.List(ctx, "", func(o remote.ObjectInfo) error {
		b, _, err := s.Get(ctx, o.Key)
		if err == nil {
			_, err = c.Put(ctx, o.Key, b, remote.PutOptions{})
		}
		return err
	}))
	return c
}
