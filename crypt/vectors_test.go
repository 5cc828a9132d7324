package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Known-answer vectors under testdata/vectors are frozen: once written they
// are never edited (a format change bumps a version and adds new files).
// `go test ./crypt -run TestVectors -update` writes only files that do not
// exist yet (O_EXCL): it refuses to overwrite a vector.
var update = flag.Bool("update", false, "write missing known-answer vectors and fuzz seeds (never overwrites)")

const vectorDir = "testdata/vectors"

type vaultVector struct {
	Comment     string `json:"comment"`
	RandSeed    string `json:"rand_seed"`
	Passphrase  string `json:"passphrase"`
	RecoveryKey string `json:"recovery_key"`
	Master      string `json:"master_key"`
	Data        string `json:"data_key"`
	Meta        string `json:"meta_key"`
	Lease       string `json:"lease_key"`
	Local       string `json:"local_key"`
}

type objectVector struct {
	Comment      string `json:"comment"`
	Suite        string `json:"suite"`
	DataKey      string `json:"data_key"`
	ObjectKey    string `json:"object_key"`
	ID           string `json:"object_id"`
	Plaintext    string `json:"plaintext_file"`
	PlainSHA256  string `json:"plaintext_sha256"`
	Sealed       string `json:"sealed_file"`
	SealedSHA256 string `json:"sealed_sha256"`
}

type recordVector struct {
	Key      string `json:"key"`
	Kind     int    `json:"kind"`
	Seq      uint64 `json:"seq"`
	RandSeed string `json:"rand_seed"`
	Payload  string `json:"payload"`
	Sealed   string `json:"sealed"`
}

const vectorPlainLen = 2*SegmentSize + 1000 // two full segments and a partial one

// generateVectors returns every vector file's content, made from fixed seeds.
func generateVectors(t *testing.T) map[string][]byte {
	files := map[string][]byte{}
	seed := "sealfs vault vector v1"
	pass := "vector passphrase"
	v, master, rk, err := newVault(1, newDetRand(seed), SuiteAES256GCM, DefaultChunkSize, []byte(pass), MinKDF)
	if err != nil {
		t.Fatal(err)
	}
	files["vault.json"], _ = v.Marshal()
	// Versions 2 to 4: the same draws, so the same keys and slots; the
	// version and the MAC differ. NewVault writes the newest.
	for version := byte(2); version <= 3; version++ {
		vn, _, _, err := newVault(version, newDetRand(seed), SuiteAES256GCM, DefaultChunkSize, []byte(pass), MinKDF)
		if err != nil {
			t.Fatal(err)
		}
		files[fmt.Sprintf("vault_v%d.json", version)], _ = vn.Marshal()
	}
	v4, _, _, err := NewVault(newDetRand(seed), SuiteAES256GCM, DefaultChunkSize, []byte(pass), MinKDF)
	if err != nil {
		t.Fatal(err)
	}
	files["vault_v4.json"], _ = v4.Marshal()
	k := DeriveKeys(master, v.Suite(), v.ChunkSize())
	files["vault_vector.json"] = mustJSON(t, vaultVector{
		Comment:  "vault.json made by NewVault(detRand(rand_seed), aes-gcm, 4 MiB, passphrase, MinKDF)",
		RandSeed: seed, Passphrase: pass, RecoveryKey: rk.Display(),
		Master: hx(master[:]), Data: hx(k.Data[:]), Meta: hx(k.Meta[:]), Lease: hx(k.Lease[:]), Local: hx(k.Local[:]),
	})
	pt := detBytes("sealfs object vector v1", vectorPlainLen)
	files["object_plaintext.bin"] = pt
	for _, suite := range allSuites {
		sk := DeriveKeys(master, suite, DefaultChunkSize)
		id := testID("vector " + suite.String())
		sealed, err := SealObject(sk, id, pt)
		if err != nil {
			t.Fatal(err)
		}
		name := "object_" + suite.String()
		ok := objectKeyFor(sk, id)
		files[name+".sealed"] = sealed
		files[name+".json"] = mustJSON(t, objectVector{
			Comment: "SealObject(keys with data_key, object_id, plaintext_file)",
			Suite:   suite.String(), DataKey: hx(sk.Data[:]), ObjectKey: hx(ok[:]), ID: id.String(),
			Plaintext: "object_plaintext.bin", PlainSHA256: sha(pt),
			Sealed: name + ".sealed", SealedSHA256: sha(sealed),
		})
	}
	var recs []recordVector
	for i, p := range []string{"", "head", string(detBytes("journal", 1000))} {
		seed := "sealfs record vector " + string(rune('a'+i))
		kind, seq := RecordKind(i+1), uint64(i*1000+1)
		sealed, err := SealRecord(newDetRand(seed), k.Meta, kind, seq, []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, recordVector{hx(k.Meta[:]), int(kind), seq, seed, hx([]byte(p)), hx(sealed)})
	}
	files["records.json"] = mustJSON(t, recs)
	files["keys_v2.json"] = mustJSON(t, map[string]string{
		"comment":    "format 2 subkeys of the vault_vector.json master key",
		"content_id": hx(k.ContentID[:]),
	})
	// Format 3: content ids of whole objects, for the object vector's
	// plaintext, an empty one and a short padded one.
	ids := map[string]string{"comment": "format 3: ContentObjectID(keys_v2.json content_id, plaintext) = HMAC-SHA256(content_id, 0x02 || plaintext)[:16]"}
	for name, p := range map[string][]byte{
		"object_plaintext.bin": pt, "empty": nil, "short": append([]byte("sealfs"), make([]byte, 2)...),
	} {
		ids[name] = ContentObjectID(k, p).String()
	}
	files["content_ids_v3.json"] = mustJSON(t, ids)
	parts := map[string]string{"comment": "format 3: ContentID(keys_v2.json content_id, data) = HMAC-SHA256(content_id, 0x01 || data)[:16], the content id of a packed extent"}
	for name, p := range map[string][]byte{"object_plaintext.bin": pt, "hello": []byte("hello")} {
		parts[name] = ContentID(k, p).String()
	}
	files["part_content_ids_v3.json"] = mustJSON(t, parts)
	return files
}

func objectKeyFor(k *Keys, id ObjectID) Key {
	info := append(append([]byte(infoObject), byte(k.Suite)), id[:]...)
	return hkdfKey(k.Data[:], nil, string(info))
}

func hx(b []byte) string  { return hex.EncodeToString(b) }
func sha(b []byte) string { s := sha256.Sum256(b); return hx(s[:]) }

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// writeNew creates path with data and refuses to touch an existing file.
func writeNew(t *testing.T, path string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		t.Logf("kept existing %s (vectors are never overwritten)", path)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

func readVector(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatalf("%v (generate missing vectors with -update)", err)
	}
	return b
}

// TestVectors checks the frozen files: they still open to the recorded
// values, and this code still produces them byte for byte from the seeds.
func TestVectors(t *testing.T) {
	gen := generateVectors(t)
	if *update {
		for name, data := range gen {
			writeNew(t, filepath.Join(vectorDir, name), data)
		}
		writeFuzzSeeds(t)
	}
	for name, want := range gen {
		if got := readVector(t, name); !bytes.Equal(got, want) {
			t.Errorf("%s: this code no longer produces the frozen vector", name)
		}
	}
	t.Run("vault", func(t *testing.T) { checkVaultVector(t, "vault.json", 1) })
	t.Run("vault_v2", func(t *testing.T) { checkVaultVector(t, "vault_v2.json", 2) })
	t.Run("vault_v3", func(t *testing.T) { checkVaultVector(t, "vault_v3.json", 3) })
	t.Run("vault_v4", func(t *testing.T) { checkVaultVector(t, "vault_v4.json", 4) })
	t.Run("objects", checkObjectVectors)
	t.Run("records", checkRecordVectors)
}

func checkVaultVector(t *testing.T, file string, version int) {
	var vv vaultVector
	if err := json.Unmarshal(readVector(t, "vault_vector.json"), &vv); err != nil {
		t.Fatal(err)
	}
	v, err := ParseVault(readVector(t, file))
	if err != nil {
		t.Fatal(err)
	}
	if v.Version() != version {
		t.Errorf("%s: version %d, want %d", file, v.Version(), version)
	}
	m1, err := v.UnlockPassphrase([]byte(vv.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := ParseRecoveryKey(vv.RecoveryKey)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := v.UnlockRecovery(rk)
	if err != nil || m1 != m2 || hx(m1[:]) != vv.Master {
		t.Fatalf("master key differs from the vector (%v)", err)
	}
	k := DeriveKeys(m1, v.Suite(), v.ChunkSize())
	for name, pair := range map[string][2]string{
		"data": {hx(k.Data[:]), vv.Data}, "meta": {hx(k.Meta[:]), vv.Meta},
		"lease": {hx(k.Lease[:]), vv.Lease}, "local": {hx(k.Local[:]), vv.Local},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s key differs from the vector", name)
		}
	}
}

func checkObjectVectors(t *testing.T) {
	pt := readVector(t, "object_plaintext.bin")
	for _, suite := range allSuites {
		var ov objectVector
		if err := json.Unmarshal(readVector(t, "object_"+suite.String()+".json"), &ov); err != nil {
			t.Fatal(err)
		}
		k := &Keys{Suite: suite, ChunkSize: DefaultChunkSize}
		hex.Decode(k.Data[:], []byte(ov.DataKey))
		id, err := ParseObjectID(ov.ID)
		if err != nil {
			t.Fatal(err)
		}
		sealed := readVector(t, ov.Sealed)
		got, err := OpenObject(k, id, sealed)
		if err != nil || !bytes.Equal(got, pt) || sha(pt) != ov.PlainSHA256 || sha(sealed) != ov.SealedSHA256 {
			t.Errorf("%s: vector does not open to its plaintext: %v", suite, err)
		}
		if ok := objectKeyFor(k, id); hx(ok[:]) != ov.ObjectKey {
			t.Errorf("%s: object key derivation changed", suite)
		}
	}
}

func checkRecordVectors(t *testing.T) {
	var recs []recordVector
	if err := json.Unmarshal(readVector(t, "records.json"), &recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var key Key
		hex.Decode(key[:], []byte(r.Key))
		sealed, _ := hex.DecodeString(r.Sealed)
		got, err := OpenRecord(key, RecordKind(r.Kind), r.Seq, sealed)
		if err != nil || hx(got) != r.Payload {
			t.Errorf("record kind %d seq %d: %v", r.Kind, r.Seq, err)
		}
	}
}
