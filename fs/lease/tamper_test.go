package lease

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

func TestTamperedLeaseIsNotTakenOver(t *testing.T) {
	other := newKeys(t)
	cases := []struct {
		name    string
		edit    func(t *testing.T, sealed []byte, k *crypt.Keys) []byte
		errAuth bool // the error must match crypt.ErrAuth
	}{
		{"flipped bit", func(t *testing.T, b []byte, _ *crypt.Keys) []byte { b[len(b)/2] ^= 1; return b }, true},
		{"flipped epoch", func(t *testing.T, b []byte, _ *crypt.Keys) []byte { b[9] ^= 1; return b }, true},
		{"truncated", func(t *testing.T, b []byte, _ *crypt.Keys) []byte { return b[:len(b)-1] }, true},
		{"empty", func(t *testing.T, b []byte, _ *crypt.Keys) []byte { return nil }, true},
		{"garbage", func(t *testing.T, b []byte, _ *crypt.Keys) []byte { return []byte("not a lease") }, true},
		{"other vault's key", func(t *testing.T, _ []byte, _ *crypt.Keys) []byte {
			return sealT(t, other.Lease, crypt.KindLease, 1, heldRecord(1).encode())
		}, true},
		{"other record kind", func(t *testing.T, _ []byte, k *crypt.Keys) []byte {
			return sealT(t, k.Lease, crypt.KindHead, 1, heldRecord(1).encode())
		}, true},
		{"epoch differs from seq", func(t *testing.T, _ []byte, k *crypt.Keys) []byte {
			return sealT(t, k.Lease, crypt.KindLease, 7, heldRecord(1).encode())
		}, false},
		{"unknown payload version", func(t *testing.T, _ []byte, k *crypt.Keys) []byte {
			p := heldRecord(1).encode()
			p[0] = 9
			return sealT(t, k.Lease, crypt.KindLease, 1, p)
		}, false},
	}
	eachStoreFactory(t, func(t *testing.T, newStore func(t *testing.T) remote.Store) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { testTamper(t, newStore(t), tc.edit, tc.errAuth) })
		}
	})
}

func testTamper(t *testing.T, s remote.Store, edit func(*testing.T, []byte, *crypt.Keys) []byte, errAuth bool) {
	k := newKeys(t)
	a := mustAcquire(t, s, k, device("phone-a", nil))
	sealed, _, err := s.Get(ctxT(t), Key)
	if err != nil {
		t.Fatal(err)
	}
	bad := edit(t, sealed, k)
	if _, err := s.Put(ctxT(t), Key, bad, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	_, err = Acquire(ctxT(t), s, k, device("laptop", nil))
	var corrupt *CorruptError
	if !errors.As(err, &corrupt) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Acquire: %v, want *CorruptError suggesting --force", err)
	}
	if errAuth != errors.Is(err, crypt.ErrAuth) {
		t.Errorf("errors.Is(%v, ErrAuth) = %v, want %v", err, !errAuth, errAuth)
	}
	if _, err := Read(ctxT(t), s, k); !errors.As(err, &corrupt) {
		t.Errorf("Read: %v, want *CorruptError", err)
	}
	if now, _, _ := s.Get(ctxT(t), Key); !bytes.Equal(now, bad) {
		t.Error("a refused Acquire changed the lease object")
	}
	if err := a.Renew(ctxT(t)); !errors.Is(err, ErrLost) {
		t.Errorf("holder's Renew over a replaced lease: %v, want ErrLost", err)
	}

	forced := device("laptop", nil)
	forced.Force = true
	mustAcquire(t, s, k, forced)
	if i := mustRead(t, s, k); i.State != StateHeld || i.Device != "laptop" {
		t.Errorf("after --force: %+v", i)
	}
}

func heldRecord(epoch uint64) *record {
	return &record{State: StateHeld, Epoch: epoch, TTL: DefaultTTL, Device: "mallory", MountID: "m"}
}

func sealT(t *testing.T, key crypt.Key, kind crypt.RecordKind, seq uint64, payload []byte) []byte {
	t.Helper()
	b, err := crypt.SealRecord(nil, key, kind, seq, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A write whose reply is lost has still landed: the mount must recognise
// its own lease rather than call it lost or held by someone else.
func TestLostRepliesAreRecognised(t *testing.T) {
	mem, k := remote.NewMemory(), newKeys(t)
	f := faults.New(mem)
	loseNextPut := func() { f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).Times(1)) }
	o := device("phone-a", nil)

	loseNextPut()
	if _, err := Acquire(ctxT(t), f, k, o); err == nil || errors.Is(err, ErrLost) {
		t.Fatalf("Acquire with a lost reply: %v, want a store error", err)
	}
	a := mustAcquire(t, f, k, o) // the retry adopts the lease that landed
	if a.Epoch() != 1 {
		t.Errorf("epoch %d, want 1", a.Epoch())
	}

	loseNextPut()
	if err := a.Renew(ctxT(t)); err == nil || errors.Is(err, ErrLost) {
		t.Fatalf("Renew with a lost reply: %v, want a store error", err)
	}
	if err := a.Renew(ctxT(t)); err != nil {
		t.Fatalf("Renew after a lost reply: %v", err)
	}

	loseNextPut()
	if err := a.Release(ctxT(t)); err == nil {
		t.Fatal("Release with a lost reply: no error")
	}
	if err := a.Release(ctxT(t)); err != nil {
		t.Fatalf("Release again: %v", err)
	}
	if i := mustRead(t, f, k); i.State != StateReleased || i.Device != "phone-a" || i.Epoch != 1 {
		t.Errorf("after release: %+v", i)
	}
}
