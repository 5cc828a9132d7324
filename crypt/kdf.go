package crypt

import (
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDFParams are Argon2id parameters.
type KDFParams struct {
	Time      uint32 // iterations
	MemoryMiB uint32
	Threads   uint8
}

var (
	// DefaultKDF is what NewVault uses for a zero KDFParams.
	DefaultKDF = KDFParams{Time: 3, MemoryMiB: 256, Threads: 4}
	// MinKDF is the weakest setting accepted, for creating a vault and for
	// opening one: a vault.json asking for less is refused before Argon2 runs.
	MinKDF = KDFParams{Time: 2, MemoryMiB: 64, Threads: 1}
	// MaxKDF bounds what a vault.json may ask for, so a hostile bucket
	// cannot make us allocate more than 4 GiB or spin for minutes.
	MaxKDF = KDFParams{Time: 32, MemoryMiB: 4096, Threads: 64}
)

// String prints the parameters (they are not secret).
func (p KDFParams) String() string {
	return fmt.Sprintf("argon2id(t=%d, m=%d MiB, p=%d)", p.Time, p.MemoryMiB, p.Threads)
}

// Validate checks p against MinKDF and MaxKDF and returns a *KDFParamError
// naming the first parameter out of range.
func (p KDFParams) Validate() error {
	checks := []struct {
		name      string
		v, lo, hi uint32
	}{
		{"time", p.Time, MinKDF.Time, MaxKDF.Time},
		{"memory_mib", p.MemoryMiB, MinKDF.MemoryMiB, MaxKDF.MemoryMiB},
		{"threads", uint32(p.Threads), uint32(MinKDF.Threads), uint32(MaxKDF.Threads)},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.hi {
			return &KDFParamError{Param: c.name, Value: c.v, Min: c.lo, Max: c.hi}
		}
	}
	return nil
}

// passphraseKEK runs Argon2id. The caller must have validated p.
func passphraseKEK(pass, salt []byte, p KDFParams) Key {
	b := argon2.IDKey(pass, salt, p.Time, p.MemoryMiB*1024, p.Threads, KeySize)
	var k Key
	copy(k[:], b)
	clear(b)
	return k
}

// recoveryKEK is HKDF-SHA256(ikm=recovery key, salt=slot salt): the recovery
// key has 256 bits of entropy, so no slow KDF is needed.
func recoveryKEK(rk RecoveryKey, salt []byte) Key {
	return hkdfKey(rk[:], salt, infoRecovery)
}
