package crypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestVaultUnlock(t *testing.T) {
	v, sv := testVault(t)
	m, err := v.UnlockPassphrase(testPass)
	if err != nil || m != sv.master {
		t.Fatalf("passphrase: %v (master matches: %v)", err, m == sv.master)
	}
	m, err = v.UnlockRecovery(sv.rk)
	if err != nil || m != sv.master {
		t.Fatalf("recovery: %v (master matches: %v)", err, m == sv.master)
	}
	if v.Suite() != SuiteAES256GCM || v.ChunkSize() != DefaultChunkSize || v.KDF() != MinKDF {
		t.Fatalf("params: %v %d %v", v.Suite(), v.ChunkSize(), v.KDF())
	}
	if got := v.Slots(); len(got) != 2 || got[0] != SlotPassphrase || got[1] != SlotRecovery {
		t.Fatalf("slots %v", got)
	}
}

func TestVaultWrongSecret(t *testing.T) {
	v, sv := testVault(t)
	if _, err := v.UnlockPassphrase([]byte("correct horse battery stapler")); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong passphrase: %v, want ErrAuth", err)
	}
	rk := sv.rk
	rk[31] ^= 1
	if _, err := v.UnlockRecovery(rk); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong recovery key: %v, want ErrAuth", err)
	}
}

// editVault applies edit to the shared vault's JSON object and parses it.
func editVault(t *testing.T, edit func(m map[string]any)) (*Vault, error) {
	t.Helper()
	_, sv := testVault(t)
	var m map[string]any
	if err := json.Unmarshal(sv.json, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return ParseVault(b)
}

func slotField(i int, name string, val any) func(map[string]any) {
	return func(m map[string]any) { m["slots"].([]any)[i].(map[string]any)[name] = val }
}

func kdfField(name string, val any) func(map[string]any) {
	return func(m map[string]any) {
		m["slots"].([]any)[0].(map[string]any)["kdf"].(map[string]any)[name] = val
	}
}

// TestVaultEditedIsRefused: a vault.json with any field changed (that still
// parses) is refused after unlock. The recovery slot is used because it is
// fast; it proves the MAC covers the passphrase slot's parameters too.
func TestVaultEditedIsRefused(t *testing.T) {
	_, sv := testVault(t)
	other, _, _, err := NewVault(newDetRand("other vault"), SuiteAES256GCM, 0, testPass, MinKDF)
	if err != nil {
		t.Fatal(err)
	}
	otherJSON, _ := other.Marshal()
	var om map[string]any
	json.Unmarshal(otherJSON, &om)
	cases := map[string]func(map[string]any){
		"suite changed":                      func(m map[string]any) { m["suite"] = "xchacha20" },
		"chunk size changed":                 func(m map[string]any) { m["chunk_size"] = 2 * SegmentSize },
		"kdf time raised":                    kdfField("time", 3),
		"kdf memory lowered":                 kdfField("memory_mib", 65),
		"passphrase slot removed":            func(m map[string]any) { m["slots"] = m["slots"].([]any)[1:] },
		"slot duplicated":                    func(m map[string]any) { m["slots"] = append(m["slots"].([]any), m["slots"].([]any)[1]) },
		"mac changed":                        func(m map[string]any) { m["mac"] = strings.Repeat("0", 64) },
		"vault id changed":                   func(m map[string]any) { m["id"] = strings.Repeat("ab", 16) },
		"recovery salt changed":              slotField(1, "salt", strings.Repeat("cd", 32)),
		"passphrase slot from another vault": func(m map[string]any) { m["slots"].([]any)[0] = om["slots"].([]any)[0] },
		"recovery slot from another vault":   func(m map[string]any) { m["slots"].([]any)[1] = om["slots"].([]any)[1] },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := editVault(t, edit)
			if err != nil {
				t.Fatalf("edited vault should still parse: %v", err)
			}
			m, err := v.UnlockRecovery(sv.rk)
			if !errors.Is(err, ErrAuth) || m != (Key{}) {
				t.Fatalf("UnlockRecovery = %v, want ErrAuth and no key", err)
			}
			if err := v.Verify(sv.master); !errors.Is(err, ErrVaultModified) {
				t.Fatalf("Verify = %v, want ErrVaultModified", err)
			}
		})
	}
}

func TestParseVaultErrors(t *testing.T) {
	_, sv := testVault(t)
	cases := []struct {
		name, field string
		data        []byte
		edit        func(map[string]any)
	}{
		{name: "not json", data: []byte("{"), field: ""},
		{name: "empty", data: []byte(""), field: ""},
		{name: "trailing data", data: append(bytes.Clone(sv.json), "{}"...), field: ""},
		{name: "too large", data: bytes.Repeat([]byte(" "), maxVaultSize+1), field: ""},
		{name: "unknown field", edit: func(m map[string]any) { m["extra"] = 1 }, field: ""},
		{name: "not a vault", edit: func(m map[string]any) { m["format"] = "age" }, field: "format"},
		{name: "unknown version", edit: func(m map[string]any) { m["version"] = VaultVersion + 1 }, field: "version"},
		{name: "downgraded version", edit: func(m map[string]any) { m["version"] = 0 }, field: "version"},
		{name: "unknown suite", edit: func(m map[string]any) { m["suite"] = "rot13" }, field: "suite"},
		{name: "suite alias", edit: func(m map[string]any) { m["suite"] = "AES-256-GCM" }, field: "suite"},
		{name: "chunk size not segment multiple", edit: func(m map[string]any) { m["chunk_size"] = 1000 }, field: "chunk_size"},
		{name: "chunk size too large", edit: func(m map[string]any) { m["chunk_size"] = 2 * MaxObjectSize }, field: "chunk_size"},
		{name: "short id", edit: func(m map[string]any) { m["id"] = "abcd" }, field: "id"},
		{name: "uppercase mac", edit: func(m map[string]any) { m["mac"] = strings.ToUpper(m["mac"].(string)) }, field: "mac"},
		{name: "no slots", edit: func(m map[string]any) { m["slots"] = []any{} }, field: "slots"},
		{name: "too many slots", edit: func(m map[string]any) {
			s := m["slots"].([]any)
			m["slots"] = append(append(append(s, s...), s...), s...)
			m["slots"] = append(m["slots"].([]any), s[0])
		}, field: "slots"},
		{name: "unknown slot type", edit: slotField(0, "type", "fingerprint"), field: "slots[0].type"},
		{name: "short wrapped key", edit: slotField(1, "wrapped_key", "00"), field: "slots[1].wrapped_key"},
		{name: "short salt", edit: slotField(0, "salt", "00ff"), field: "slots[0].salt"},
		{name: "short nonce", edit: slotField(1, "nonce", ""), field: "slots[1].nonce"},
		{name: "wrong kdf name", edit: kdfField("name", "pbkdf2"), field: "slots[0].kdf.name"},
		{name: "kdf on recovery slot", edit: slotField(1, "kdf", map[string]any{"name": "argon2id", "time": 3}), field: "slots[1].kdf"},
		{name: "memory below minimum", edit: kdfField("memory_mib", 32), field: "slots[0].kdf.memory_mib"},
		{name: "time below minimum", edit: kdfField("time", 1), field: "slots[0].kdf.time"},
		{name: "threads zero", edit: kdfField("threads", 0), field: "slots[0].kdf.threads"},
		{name: "memory above maximum", edit: kdfField("memory_mib", 1<<20), field: "slots[0].kdf.memory_mib"},
		{name: "time above maximum", edit: kdfField("time", 1000), field: "slots[0].kdf.time"},
		{name: "negative chunk size", edit: func(m map[string]any) { m["chunk_size"] = -65536 }, field: "chunk_size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v *Vault
			var err error
			if c.edit != nil {
				v, err = editVault(t, c.edit)
			} else {
				v, err = ParseVault(c.data)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || v != nil {
				t.Fatalf("ParseVault = %v, %v; want *ParseError and nil vault", v, err)
			}
			if pe.Field != c.field {
				t.Fatalf("field %q, want %q (%v)", pe.Field, c.field, err)
			}
		})
	}
}

// TestKDFMinimumMessage: the error names the parameter and the minimum.
func TestKDFMinimumMessage(t *testing.T) {
	_, err := editVault(t, kdfField("memory_mib", 32))
	var ke *KDFParamError
	if !errors.As(err, &ke) || ke.Param != "memory_mib" || ke.Min != 64 {
		t.Fatalf("err = %v, want a *KDFParamError for memory_mib min 64", err)
	}
	for _, want := range []string{"memory_mib", "32", "minimum 64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	weak := []KDFParams{{Time: 1, MemoryMiB: 256, Threads: 4}, {Time: 3, MemoryMiB: 63, Threads: 4}, {Time: 3, MemoryMiB: 256}}
	for _, p := range weak {
		if _, _, _, err := NewVault(nil, SuiteAES256GCM, 0, testPass, p); !errors.As(err, &ke) {
			t.Errorf("NewVault(%v) = %v, want *KDFParamError", p, err)
		}
	}
}

func TestNewVaultBadArgs(t *testing.T) {
	for name, f := range map[string]func() error{
		"unknown suite":  func() error { _, _, _, err := NewVault(nil, 7, 0, testPass, MinKDF); return err },
		"bad chunk size": func() error { _, _, _, err := NewVault(nil, SuiteAES256GCM, 1000, testPass, MinKDF); return err },
		"huge chunk size": func() error {
			_, _, _, err := NewVault(nil, SuiteAES256GCM, 2*MaxObjectSize, testPass, MinKDF)
			return err
		},
		"empty passphrase": func() error { _, _, _, err := NewVault(nil, SuiteAES256GCM, 0, nil, MinKDF); return err },
		"failing rand": func() error {
			_, _, _, err := NewVault(bytes.NewReader(nil), SuiteAES256GCM, 0, testPass, MinKDF)
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestVaultMarshalStable(t *testing.T) {
	v, sv := testVault(t)
	b, err := v.Marshal()
	if err != nil || !bytes.Equal(b, sv.json) {
		t.Fatalf("Marshal(ParseVault(x)) != x: %v", err)
	}
	if bytes.Contains(b, []byte(fmt.Sprintf("%x", sv.master[:]))) {
		t.Fatal("master key in vault.json")
	}
}

// TestVaultUpgrade: a version-1 vault raised to VaultVersion keeps its id,
// parameters and slots, opens with the same secrets to the same master
// key, and its new MAC covers the new version (putting the old version
// back is refused); without the master key it cannot be raised.
func TestVaultUpgrade(t *testing.T) {
	v, master, rk, err := newVault(1, nil, SuiteAES256GCM, DefaultChunkSize, []byte("upgrade me"), MinKDF)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Upgrade(Key{1}); !errors.Is(err, ErrAuth) {
		t.Fatalf("Upgrade with a wrong key: %v", err)
	}
	if err := v.Upgrade(master); err != nil {
		t.Fatal(err)
	}
	data, err := v.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	up, err := ParseVault(data)
	if err != nil || up.Version() != VaultVersion {
		t.Fatalf("upgraded vault: version %v, %v", up, err)
	}
	m2, err := up.UnlockRecovery(rk)
	if err != nil || m2 != master {
		t.Fatalf("upgraded vault unlocks to another key: %v", err)
	}
	var j map[string]any
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	j["version"] = 1
	old, _ := json.Marshal(j)
	back, err := ParseVault(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := back.UnlockRecovery(rk); !errors.Is(err, ErrVaultModified) {
		t.Errorf("version put back to 1 under the new MAC: %v, want ErrVaultModified", err)
	}
}
