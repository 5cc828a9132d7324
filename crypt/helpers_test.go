package crypt

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

// detRand is a deterministic randomness stream: SHA-256(seed || counter)
// blocks. It makes vaults, ids and record nonces reproducible in tests and
// known-answer vectors.
type detRand struct {
	seed string
	ctr  uint64
	buf  []byte
}

func newDetRand(seed string) *detRand { return &detRand{seed: seed} }

func (r *detRand) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			h := sha256.New()
			h.Write([]byte(r.seed))
			h.Write(binary.BigEndian.AppendUint64(nil, r.ctr))
			r.ctr++
			r.buf = h.Sum(nil)
		}
		p[i] = r.buf[0]
		r.buf = r.buf[1:]
	}
	return len(p), nil
}

// detBytes returns n deterministic bytes for seed.
func detBytes(seed string, n int) []byte {
	b := make([]byte, n)
	newDetRand(seed).Read(b)
	return b
}

func testKeys(t testing.TB, suite Suite) *Keys {
	t.Helper()
	var master Key
	newDetRand("master " + suite.String()).Read(master[:])
	return DeriveKeys(master, suite, DefaultChunkSize)
}

func testID(seed string) ObjectID {
	var id ObjectID
	newDetRand("id " + seed).Read(id[:])
	return id
}

var allSuites = []Suite{SuiteAES256GCM, SuiteXChaCha20Poly1305}

// testPass is the passphrase of the shared test vault.
var testPass = []byte("correct horse battery staple")

type sharedVault struct {
	json   []byte
	master Key
	rk     RecoveryKey
}

// newTestVault is created once per test binary with MinKDF: Argon2id is the
// slow part of every vault test, especially under -race.
var newTestVault = sync.OnceValues(func() (sharedVault, error) {
	v, master, rk, err := NewVault(newDetRand("shared vault"), SuiteAES256GCM, DefaultChunkSize, testPass, MinKDF)
	if err != nil {
		return sharedVault{}, err
	}
	b, err := v.Marshal()
	return sharedVault{b, master, rk}, err
})

// testVault returns a fresh parsed copy of the shared vault.
func testVault(t testing.TB) (*Vault, sharedVault) {
	t.Helper()
	sv, err := newTestVault()
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVault(sv.json)
	if err != nil {
		t.Fatal(err)
	}
	return v, sv
}

// wantAuth fails unless err is ErrAuth and got is nil.
func wantAuth(t testing.TB, got []byte, err error) {
	t.Helper()
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if got != nil {
		t.Fatalf("returned %d bytes along with ErrAuth", len(got))
	}
}
