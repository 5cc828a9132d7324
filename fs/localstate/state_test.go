package localstate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC // messages show times in the local zone
	s3test.Main(m)
}

func newKey(t *testing.T) crypt.Key {
	t.Helper()
	var k crypt.Key
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustOpen(t *testing.T, dir string, k crypt.Key) *State {
	t.Helper()
	s, err := Open(dir, k)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func head(seq uint64, device string, t string) meta.Head {
	tm, err := time.Parse("2006-01-02 15:04", t)
	if err != nil {
		panic(err)
	}
	return meta.Head{Seq: seq, Time: tm, Device: device, MountID: device + "-mount-1"}
}

func TestHighWaterRoundTrip(t *testing.T) {
	dir, k := filepath.Join(t.TempDir(), "vault"), newKey(t)
	s := mustOpen(t, dir, k)
	if _, ok := s.HighWater(); ok {
		t.Fatal("fresh state has a high-water mark")
	}
	h15 := head(15, "laptop", "2026-11-25 09:00")
	for _, h := range []meta.Head{head(3, "laptop", "2026-11-20 08:00"), h15, head(12, "phone-a", "2026-11-26 10:00")} {
		if err := s.Observe(h); err != nil {
			t.Fatal(err)
		}
	}
	got, ok := mustOpen(t, dir, k).HighWater()
	want := Commit{Seq: 15, Time: h15.Time, Device: "laptop", MountID: "laptop-mount-1"}
	if !ok || got.Seq != want.Seq || !got.Time.Equal(want.Time) || got.Device != want.Device || got.MountID != want.MountID {
		t.Errorf("after reopen: HighWater = %+v, %v; want %+v (never lowered by #12)", got, ok, want)
	}
}

func TestCheckRollback(t *testing.T) {
	dir, k := t.TempDir(), newKey(t)
	s := mustOpen(t, dir, k)
	if err := s.CheckRollback(head(1, "x", "2026-01-01 00:00")); err != nil {
		t.Errorf("a new device cannot detect rollback, yet CheckRollback = %v", err)
	}
	seen := head(15, "laptop", "2026-11-25 09:00")
	if err := s.Observe(seen); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, k)
	for _, tc := range []struct {
		name string
		head meta.Head
		want string // "" for accepted
	}{
		{"same commit", seen, ""},
		{"newer", head(16, "phone-a", "2026-11-26 10:00"), ""},
		{"older", head(12, "phone-a", "2026-11-20 10:00"),
			`the store's last commit #12 (device "phone-a", 2026-11-20 10:00 UTC) is older than commit #15 (device "laptop", 2026-11-25 09:00 UTC) ` +
				`that this device has already seen: the store was rolled back or is serving a stale copy`},
		{"same number, other writer", head(15, "phone-a", "2026-11-25 09:00"),
			`the store's last commit #15 (device "phone-a", 2026-11-25 09:00 UTC) is not the commit #15 (device "laptop", 2026-11-25 09:00 UTC) ` +
				`that this device has already seen: the store was rolled back and written again, or is serving another copy`},
		{"same number, other time", head(15, "laptop", "2026-11-25 09:01"), "is not the commit #15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CheckRollback(tc.head)
			if tc.want == "" {
				if err != nil {
					t.Errorf("CheckRollback = %v, want nil", err)
				}
				return
			}
			var rb *RollbackError
			if !errors.As(err, &rb) || rb.Store.Seq != tc.head.Seq || rb.Seen.Seq != 15 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckRollback:\n got %v\nwant *RollbackError containing %s", err, tc.want)
			}
		})
	}
	older := head(12, "phone-a", "2026-11-20 10:00")
	if err := s.Accept(older); err != nil {
		t.Fatal(err)
	}
	if err := mustOpen(t, dir, k).CheckRollback(older); err != nil {
		t.Errorf("after Accept and reopen: %v", err)
	}
}

// The state file is two slots (slots.go). A slot whose record does not
// authenticate is what a torn write leaves, so it is skipped while the other
// slot holds a state (TestTornSlotReadsPrevious); both slots damaged, a file
// that is not two slots, or a record that authenticates but cannot be used
// (in either slot) is a *FileError, as a damaged file of the older layout
// (legacyFileName) is.
func TestDamagedStateFileIsNotReset(t *testing.T) {
	k, other := newKey(t), newKey(t)
	sealState := func(key crypt.Key, payload string) []byte {
		b, err := crypt.SealRecord(nil, key, crypt.KindLocal, 0, []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type edit struct {
		name    string
		edit    func(b []byte) []byte // of one record
		errAuth bool
	}
	edits := []edit{
		{"flipped bit", func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }, true},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, true},
		{"empty", func([]byte) []byte { return []byte{} }, true},
		{"garbage", func([]byte) []byte { return []byte(`{"high":{"seq":0}}`) }, true},
		{"other vault's key", func([]byte) []byte { return sealState(other, `{"what":"sealfs local state","v":2,"n":9}`) }, true},
		{"another local file", func([]byte) []byte { return sealState(k, `{"what":"sealfs intent log","v":2}`) }, false},
		{"newer version", func([]byte) []byte { return sealState(k, `{"what":"sealfs local state","v":3,"n":9}`) }, false},
		{"older version in a slot", func([]byte) []byte { return sealState(k, `{"what":"sealfs local state","v":1}`) }, false},
	}
	check := func(t *testing.T, dir, path string, errAuth bool) {
		t.Helper()
		before, _ := os.ReadFile(path)
		_, err := Open(dir, k)
		var fe *FileError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "remove "+path+" to trust the store as a new device would") {
			t.Fatalf("Open: %v, want *FileError naming the file and the fix", err)
		}
		if errAuth != errors.Is(err, crypt.ErrAuth) {
			t.Errorf("errors.Is(ErrAuth) = %v, want %v (%v)", !errAuth, errAuth, err)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, before) {
			t.Error("Open replaced the damaged file")
		}
	}
	saved := func(t *testing.T) (dir, path string, file []byte) {
		dir = t.TempDir()
		s := mustOpen(t, dir, k)
		for seq := range uint64(3) {
			if err := s.Observe(head(15+seq, "laptop", "2026-11-25 09:00")); err != nil {
				t.Fatal(err)
			}
		}
		path = filepath.Join(dir, FileName)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return dir, path, b
	}
	for _, tc := range edits {
		// Both slots: nothing left to read.
		t.Run("both slots, "+tc.name, func(t *testing.T) {
			dir, path, b := saved(t)
			size := len(b) / 2
			for i := range 2 {
				slot := b[i*size : (i+1)*size]
				n := binary.BigEndian.Uint32(slot[8:12])
				putSlot(slot, tc.edit(bytes.Clone(slot[slotHeaderSize:slotHeaderSize+n])))
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			check(t, dir, path, tc.errAuth)
		})
		// The file of the older layout, before the first save carries it over.
		t.Run("older layout, "+tc.name, func(t *testing.T) {
			if tc.name == "older version in a slot" {
				t.Skip("version 1 is what the older layout holds")
			}
			dir := t.TempDir()
			path := filepath.Join(dir, legacyFileName)
			legacyWrite(t, dir, k, 15)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "other vault's key" || tc.name == "newer version" {
				b = sealState(other, `{"what":"sealfs local state","v":1}`)
				if tc.name == "newer version" {
					b = sealState(k, `{"what":"sealfs local state","v":3}`)
				}
			} else {
				b = tc.edit(b)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			check(t, dir, path, tc.errAuth)
		})
	}
	// A record that authenticates but is not a state this sealfs reads is
	// no torn write: refused even though the other slot is good.
	for _, tc := range edits[5:] {
		for i := range 2 {
			t.Run(fmt.Sprintf("slot %d, %s", i, tc.name), func(t *testing.T) {
				dir, path, b := saved(t)
				size := len(b) / 2
				putSlot(b[i*size:(i+1)*size], tc.edit(nil))
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
				check(t, dir, path, tc.errAuth)
			})
		}
	}
	for name, edit := range map[string]func([]byte) []byte{
		"truncated file":   func(b []byte) []byte { return b[:len(b)-1] },
		"one slot only":    func(b []byte) []byte { return b[:len(b)/2] },
		"empty file":       func([]byte) []byte { return nil },
		"one sealed state": func([]byte) []byte { return sealState(k, `{"what":"sealfs local state","v":2,"n":9}`) },
		"longer file":      func(b []byte) []byte { return append(b, make([]byte, slotUnit)...) },
	} {
		t.Run(name, func(t *testing.T) {
			dir, path, b := saved(t)
			if err := os.WriteFile(path, edit(b), 0o600); err != nil {
				t.Fatal(err)
			}
			check(t, dir, path, true)
		})
	}
	for _, name := range []string{FileName, legacyFileName} {
		t.Run("unreadable "+name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
				t.Fatal(err)
			}
			var fe *FileError
			_, err := Open(dir, k)
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "check its permissions") || errors.Is(err, crypt.ErrAuth) {
				t.Errorf("Open over a directory: %v, want an I/O *FileError", err)
			}
		})
	}
}

func TestStateFileIsSealedAndPrivate(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "vault")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	s := mustOpen(t, dir, k)
	h := meta.Head{Seq: 424242, Time: time.Now(), Device: "phone-of-alice", MountID: "mount-7f3a9c"}
	if err := s.Observe(h); err != nil {
		t.Fatal(err)
	}
	if err := s.Record("lease-version-xyz", time.Now()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{h.Device, h.MountID, "424242", "lease-version-xyz", "seq", "sealfs local state"} {
		if bytes.Contains(b, []byte(plain)) {
			t.Errorf("state file contains %q in the clear", plain)
		}
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, s.Path(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch e.Name() {
		case FileName:
		case legacyFileName: // the stub an older sealfs refuses
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if _, stub, derr := decodeLegacy(k, b); err != nil || derr != nil || !stub {
				t.Errorf("%s: %v, %v; want the stub", e.Name(), err, derr)
			}
			if fi, err := e.Info(); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, %v; want mode 0600", e.Name(), fi, err)
			}
		case saveLockName: // empty: it only carries the flock
			if fi, err := e.Info(); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, %v; want empty, mode 0600", e.Name(), fi, err)
			}
		default:
			t.Errorf("unexpected file %s left in the state directory", e.Name())
		}
	}
}

// A refused mount remembers when it first saw the holder's lease, so a
// later run of sealfs (a new State over the same file) takes a crashed
// holder's lease over once the TTL has passed on this device's clock.
func TestLeaseSightingSurvivesRestart(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testSightingRestart(t, remote.NewMemory()) })
	t.Run("s3", func(t *testing.T) { testSightingRestart(t, s3test.NewStore(t)) })
}

func testSightingRestart(t *testing.T, store remote.Store) {
	ctx := context.Background()
	dir, k := t.TempDir(), newKey(t)
	var master crypt.Key
	copy(master[:], k[:])
	keys := crypt.DeriveKeys(master, crypt.SuiteAES256GCM, 4<<20)
	now := time.Date(2026, 11, 26, 23, 40, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	if _, err := lease.Acquire(ctx, store, keys, lease.Options{Device: "phone-a", MountID: "a1", Now: clock}); err != nil {
		t.Fatal(err)
	}
	contend := func() error {
		st := mustOpen(t, dir, keys.Local) // a new process each time
		_, err := lease.Acquire(ctx, store, keys, lease.Options{Device: "laptop", MountID: "b1", Now: clock, Observer: st})
		return err
	}
	var held *lease.HeldError
	if err := contend(); !errors.As(err, &held) {
		t.Fatalf("first try: %v, want *HeldError", err)
	}
	now = now.Add(lease.DefaultTTL - time.Second)
	if err := contend(); !errors.As(err, &held) || held.RetryAfter != time.Second {
		t.Fatalf("before the TTL: %v, want *HeldError with 1s to go", err)
	}
	now = now.Add(time.Second)
	if err := contend(); err != nil {
		t.Fatalf("after the TTL: %v, want the lease", err)
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"what":"sealfs local state","v":1,"high":{"seq":15,"time_ns":1,"device":"d","mount_id":"m"}}`))
	f.Add([]byte(`{"what":"sealfs local state","v":1,"lease_seen":{"version":"1.2.x","first_seen_ns":5},"last_mount":"m"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"what":"sealfs local state","v":2,"n":7,"copy":true,"legacy":true,"high":{"seq":15,"time_ns":1,"device":"d","mount_id":"m"}}`))
	f.Add([]byte(`{"what":"sealfs local state","v":2}`))
	var k crypt.Key
	f.Fuzz(func(t *testing.T, plain []byte) {
		sealed, err := crypt.SealRecord(nil, k, crypt.KindLocal, 0, plain)
		if err != nil {
			t.Skip()
		}
		if p, stub, err := decodeLegacy(k, sealed); err == nil {
			if stub && p != (payload{What: payloadWhat, Version: payloadVersion}) ||
				!stub && (p.What != payloadWhat || p.Version != legacyPayloadVersion || p.Save != 0 || p.Copy || p.Legacy) {
				t.Fatalf("older layout: accepted %+v (stub %v)", p, stub)
			}
		}
		p, err := decode(k, sealed)
		if err != nil {
			return
		}
		if p.What != payloadWhat || p.Version != payloadVersion {
			t.Fatalf("accepted %+v", p)
		}
	})
}
