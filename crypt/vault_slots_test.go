package crypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// slotJSONs returns the slots of a marshalled vault, as raw JSON.
func slotJSONs(t *testing.T, v *Vault) []string {
	t.Helper()
	b, err := v.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var j struct{ Slots []json.RawMessage }
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range j.Slots {
		out = append(out, string(s))
	}
	return out
}

// reparse marshals and parses v, as writing and reading the bucket would.
func reparse(t *testing.T, v *Vault) *Vault {
	t.Helper()
	b, err := v.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := ParseVault(b)
	if err != nil {
		t.Fatal(err)
	}
	return v2
}

func TestSetPassphrase(t *testing.T) {
	v, sv := testVault(t)
	before := slotJSONs(t, v)
	newPass := []byte("a new passphrase")
	if err := v.SetPassphrase(newDetRand("pw2"), sv.master, newPass, MinKDF); err != nil {
		t.Fatal(err)
	}
	after := slotJSONs(t, v)
	if after[0] == before[0] || after[1] != before[1] {
		t.Fatal("SetPassphrase must rewrap exactly the passphrase slot")
	}
	v = reparse(t, v)
	if m, err := v.UnlockPassphrase(newPass); err != nil || m != sv.master {
		t.Fatalf("new passphrase: %v", err)
	}
	if _, err := v.UnlockPassphrase(testPass); !errors.Is(err, ErrAuth) {
		t.Fatalf("old passphrase: %v, want ErrAuth", err)
	}
	if m, err := v.UnlockRecovery(sv.rk); err != nil || m != sv.master {
		t.Fatalf("recovery after passwd: %v", err)
	}
}

func TestSetPassphraseRefuses(t *testing.T) {
	v, sv := testVault(t)
	orig, _ := v.Marshal()
	var ke *KDFParamError
	if err := v.SetPassphrase(nil, sv.master, []byte("x"), KDFParams{Time: 2, MemoryMiB: 8, Threads: 1}); !errors.As(err, &ke) {
		t.Errorf("weak kdf: %v", err)
	}
	if err := v.SetPassphrase(nil, Key{9}, []byte("x"), MinKDF); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong master: %v, want ErrAuth", err)
	}
	if err := v.SetPassphrase(nil, sv.master, nil, MinKDF); err == nil {
		t.Error("empty passphrase accepted")
	}
	if b, _ := v.Marshal(); !bytes.Equal(b, orig) {
		t.Error("a refused SetPassphrase changed the vault")
	}
}

func TestSetRecoveryAndRemoveSlot(t *testing.T) {
	v, sv := testVault(t)
	rk2, err := v.SetRecovery(newDetRand("rk2"), sv.master)
	if err != nil {
		t.Fatal(err)
	}
	v = reparse(t, v)
	if _, err := v.UnlockRecovery(sv.rk); !errors.Is(err, ErrAuth) {
		t.Fatalf("old recovery key after SetRecovery: %v", err)
	}
	if m, err := v.UnlockRecovery(rk2); err != nil || m != sv.master {
		t.Fatalf("new recovery key: %v", err)
	}
	if err := v.RemoveSlot(sv.master, SlotPassphrase); err != nil {
		t.Fatal(err)
	}
	v = reparse(t, v)
	if _, err := v.UnlockPassphrase(testPass); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("unlock removed slot: %v, want ErrNoSlot", err)
	}
	if v.KDF() != (KDFParams{}) {
		t.Fatal("KDF of a vault without passphrase slot")
	}
	if err := v.RemoveSlot(sv.master, SlotRecovery); err == nil || !strings.Contains(err.Error(), "last key slot") {
		t.Fatalf("removing the last slot: %v", err)
	}
	if err := v.RemoveSlot(sv.master, SlotPassphrase); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("removing a missing slot: %v", err)
	}
	if m, err := v.UnlockRecovery(rk2); err != nil || m != sv.master {
		t.Fatalf("after refused removals: %v", err)
	}
}

func TestDeriveKeysDistinct(t *testing.T) {
	var master Key
	newDetRand("m").Read(master[:])
	k := DeriveKeys(master, SuiteAES256GCM, DefaultChunkSize)
	seen := map[Key]string{master: "master", subkey(master, infoVaultMAC): "vault mac"}
	for name, key := range map[string]Key{"data": k.Data, "meta": k.Meta, "lease": k.Lease, "local": k.Local} {
		if prev, dup := seen[key]; dup {
			t.Fatalf("%s key equals %s key", name, prev)
		}
		seen[key] = name
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestRecoveryUnlockIsFast: the recovery slot runs no memory-hard KDF
// (Argon2id at MinKDF would allocate 64 MiB).
func TestRecoveryUnlockIsFast(t *testing.T) {
	v, sv := testVault(t)
	var err error
	n := allocated(func() { _, err = v.UnlockRecovery(sv.rk) })
	if err != nil || n > 1<<20 {
		t.Fatalf("UnlockRecovery allocated %d bytes (err %v), want no Argon2", n, err)
	}
	if m := allocated(func() { v.UnlockPassphrase(testPass) }); m < 64<<20 {
		t.Fatalf("passphrase unlock allocated only %d bytes: is Argon2 running?", m)
	}
}

// TestWeakKDFRefusedBeforeArgon2: a vault whose slot asks for less than
// MinKDF is refused without running the KDF at all.
func TestWeakKDFRefusedBeforeArgon2(t *testing.T) {
	v, _ := testVault(t)
	v.slots[0].kdf = KDFParams{Time: 1, MemoryMiB: 1, Threads: 1}
	var err error
	n := allocated(func() { _, err = v.UnlockPassphrase(testPass) })
	var ke *KDFParamError
	if !errors.As(err, &ke) || ke.Param != "time" || n > 1<<20 {
		t.Fatalf("err = %v after allocating %d bytes, want *KDFParamError before Argon2", err, n)
	}
}
