package crypt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// VaultVersion is the newest version of the vault.json format, which
// NewVault writes. It says which metadata the vault may hold and how its
// writers behave (docs/FORMAT.md, "Version policy"): version 2 vaults may
// hold format-2 metadata; in version 3 vaults, chunk objects may be shared
// by content (ContentObjectID), which a version-2 writer would not know;
// in version 4 vaults, chunks may be compressed (zstd frames, extent op 10
// of batch version 4), which a version-3 reader would misread.
// A sealfs that reads an older version refuses a newer vault instead of
// failing on it. ParseVault reads every version from MinVaultVersion on;
// the version is under the MAC.
const VaultVersion = 4

// MinVaultVersion is the oldest vault.json version ParseVault reads.
const MinVaultVersion = 1

// SlotType is the kind of a key slot in the vault.
type SlotType byte

const (
	SlotPassphrase SlotType = 1 // Argon2id(passphrase) wraps the master key
	SlotRecovery   SlotType = 2 // HKDF(recovery key) wraps the master key
)

var slotNames = map[SlotType]string{SlotPassphrase: "passphrase", SlotRecovery: "recovery"}

func (t SlotType) String() string {
	if n, ok := slotNames[t]; ok {
		return n
	}
	return fmt.Sprintf("slot(%d)", byte(t))
}

const (
	slotSaltSize    = 32
	slotNonceSize   = chacha20poly1305.NonceSizeX
	slotWrappedSize = KeySize + tagSize
	maxSlots        = 8
)

// slot is one key slot: the master key sealed with XChaCha20-Poly1305 under
// a key-encryption key derived from the secret and the slot's salt, with the
// slot's parameters as AAD.
type slot struct {
	typ     SlotType
	kdf     KDFParams // passphrase slots only; zero for recovery
	salt    [slotSaltSize]byte
	nonce   [slotNonceSize]byte
	wrapped [slotWrappedSize]byte
}

// Vault is the parsed vault.json: format version, random vault id, chunk
// suite and size, key slots, and a MAC over all of it keyed by a subkey of
// the master key. See docs/FORMAT.md, "vault.json".
type Vault struct {
	version   byte
	id        [16]byte
	suite     Suite
	chunkSize int
	slots     []slot
	mac       [sha256.Size]byte
}

// NewVault creates a vault with a fresh random master key, a passphrase slot
// and a recovery slot. rand nil means crypto/rand. A zero kdf means
// DefaultKDF, a zero chunkSize DefaultChunkSize. The recovery key is returned
// once; the vault does not keep it.
func NewVault(rand io.Reader, suite Suite, chunkSize int, passphrase []byte, kdf KDFParams) (v *Vault, master Key, rk RecoveryKey, err error) {
	return newVault(VaultVersion, rand, suite, chunkSize, passphrase, kdf)
}

// newVault is NewVault of a given vault.json version (the frozen vectors
// of older versions are made with it).
func newVault(version byte, rand io.Reader, suite Suite, chunkSize int, passphrase []byte, kdf KDFParams) (v *Vault, master Key, rk RecoveryKey, err error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if kdf == (KDFParams{}) {
		kdf = DefaultKDF
	}
	if err := checkVaultParams(suite, chunkSize); err != nil {
		return nil, Key{}, RecoveryKey{}, err
	}
	if err := kdf.Validate(); err != nil {
		return nil, Key{}, RecoveryKey{}, err
	}
	if len(passphrase) == 0 {
		return nil, Key{}, RecoveryKey{}, errors.New("crypt: empty passphrase")
	}
	v = &Vault{version: version, suite: suite, chunkSize: chunkSize}
	for _, b := range [][]byte{master[:], v.id[:], rk[:]} {
		if err := readRand(rand, b); err != nil {
			return nil, Key{}, RecoveryKey{}, err
		}
	}
	ps, err := v.newPassphraseSlot(rand, master, passphrase, kdf)
	if err != nil {
		return nil, Key{}, RecoveryKey{}, err
	}
	rs, err := v.newRecoverySlot(rand, master, rk)
	if err != nil {
		return nil, Key{}, RecoveryKey{}, err
	}
	v.slots = []slot{ps, rs}
	v.mac = v.computeMAC(master)
	return v, master, rk, nil
}

func checkVaultParams(suite Suite, chunkSize int) error {
	if !suite.Valid() {
		return fmt.Errorf("crypt: unknown cipher suite %d", suite)
	}
	if chunkSize <= 0 || chunkSize%SegmentSize != 0 || chunkSize > MaxObjectSize {
		return fmt.Errorf("crypt: chunk size %d is not a positive multiple of %d up to %d", chunkSize, SegmentSize, MaxObjectSize)
	}
	return nil
}

// Version is the vault.json version (MinVaultVersion .. VaultVersion).
func (v *Vault) Version() int { return int(v.version) }

// Upgrade raises the vault to VaultVersion and renews the MAC (the caller
// writes it back). It needs the master key, checked first.
func (v *Vault) Upgrade(master Key) error {
	if err := v.Verify(master); err != nil {
		return err
	}
	v.version = VaultVersion
	v.mac = v.computeMAC(master)
	return nil
}

// Suite is the chunk object cipher suite chosen at init.
func (v *Vault) Suite() Suite { return v.suite }

// ChunkSize is the plaintext size of a chunk object, chosen at init.
func (v *Vault) ChunkSize() int { return v.chunkSize }

// ID is the vault's random id as 32 hex digits (not secret).
func (v *Vault) ID() string { return ObjectID(v.id).String() }

// KDF returns the Argon2id parameters of the passphrase slot (zero if the
// vault has none).
func (v *Vault) KDF() KDFParams {
	for _, s := range v.slots {
		if s.typ == SlotPassphrase {
			return s.kdf
		}
	}
	return KDFParams{}
}

// Slots lists the types of the vault's key slots, in order.
func (v *Vault) Slots() []SlotType {
	t := make([]SlotType, len(v.slots))
	for i, s := range v.slots {
		t[i] = s.typ
	}
	return t
}

// UnlockPassphrase returns the master key. A wrong passphrase is ErrAuth; a
// slot that opens but a vault whose MAC fails is ErrVaultModified (also
// ErrAuth). KDF parameters are checked against MinKDF/MaxKDF before Argon2
// runs (ParseVault already did; this guards vaults built by hand).
func (v *Vault) UnlockPassphrase(passphrase []byte) (Key, error) {
	return v.unlock(SlotPassphrase, func(s *slot) (Key, error) {
		if err := s.kdf.Validate(); err != nil {
			return Key{}, err
		}
		return passphraseKEK(passphrase, s.salt[:], s.kdf), nil
	})
}

// UnlockRecovery returns the master key using the recovery key: no slow KDF.
// Errors as for UnlockPassphrase.
func (v *Vault) UnlockRecovery(rk RecoveryKey) (Key, error) {
	return v.unlock(SlotRecovery, func(s *slot) (Key, error) {
		return recoveryKEK(rk, s.salt[:]), nil
	})
}

func (v *Vault) unlock(typ SlotType, kek func(*slot) (Key, error)) (Key, error) {
	found := false
	for i := range v.slots {
		s := &v.slots[i]
		if s.typ != typ {
			continue
		}
		found = true
		k, err := kek(s)
		if err != nil {
			return Key{}, err
		}
		master, err := v.unwrap(s, k)
		clear(k[:])
		if err != nil {
			continue
		}
		if err := v.Verify(master); err != nil {
			return Key{}, err
		}
		return master, nil
	}
	if !found {
		return Key{}, fmt.Errorf("crypt: unlock with %s: %w", typ, ErrNoSlot)
	}
	return Key{}, ErrAuth
}

// Verify checks the vault MAC with master: nil means the master key is right
// and no field of the vault was changed since it was written.
func (v *Vault) Verify(master Key) error {
	want := v.computeMAC(master)
	if !hmac.Equal(want[:], v.mac[:]) {
		return fmt.Errorf("%w: %w", ErrVaultModified, ErrAuth)
	}
	return nil
}

// slotAAD binds a slot's wrapping to the vault id and the slot's own
// parameters, so a slot cannot be moved to another vault or have its KDF
// parameters edited even before the vault MAC is checked.
func (v *Vault) slotAAD(s *slot) []byte {
	b := append([]byte("sealfs v1 slot\x00"), v.id[:]...)
	b = append(b, byte(s.typ))
	b = binary.BigEndian.AppendUint32(b, s.kdf.Time)
	b = binary.BigEndian.AppendUint32(b, s.kdf.MemoryMiB)
	b = append(b, s.kdf.Threads)
	return append(b, s.salt[:]...)
}

func (v *Vault) unwrap(s *slot, kek Key) (Key, error) {
	aead, _ := chacha20poly1305.NewX(kek[:])
	b, err := aead.Open(nil, s.nonce[:], s.wrapped[:], v.slotAAD(s))
	if err != nil {
		return Key{}, ErrAuth
	}
	var m Key
	copy(m[:], b)
	clear(b)
	return m, nil
}

// wrap fills s.nonce (random) and s.wrapped; s.typ, s.kdf, s.salt are set.
func (v *Vault) wrap(rand io.Reader, s *slot, kek, master Key) error {
	if err := readRand(rand, s.nonce[:]); err != nil {
		return err
	}
	aead, _ := chacha20poly1305.NewX(kek[:])
	aead.Seal(s.wrapped[:0], s.nonce[:], master[:], v.slotAAD(s))
	return nil
}

func (v *Vault) newPassphraseSlot(rand io.Reader, master Key, pass []byte, kdf KDFParams) (slot, error) {
	s := slot{typ: SlotPassphrase, kdf: kdf}
	if err := readRand(rand, s.salt[:]); err != nil {
		return slot{}, err
	}
	kek := passphraseKEK(pass, s.salt[:], kdf)
	defer clear(kek[:])
	return s, v.wrap(rand, &s, kek, master)
}

func (v *Vault) newRecoverySlot(rand io.Reader, master Key, rk RecoveryKey) (slot, error) {
	s := slot{typ: SlotRecovery}
	if err := readRand(rand, s.salt[:]); err != nil {
		return slot{}, err
	}
	kek := recoveryKEK(rk, s.salt[:])
	defer clear(kek[:])
	return s, v.wrap(rand, &s, kek, master)
}

// computeMAC is HMAC-SHA256(HKDF(master, "sealfs v1 vault mac"), canonical
// encoding of every field but the MAC).
func (v *Vault) computeMAC(master Key) [sha256.Size]byte {
	k := subkey(master, infoVaultMAC)
	defer clear(k[:])
	h := hmac.New(sha256.New, k[:])
	h.Write(v.canonical())
	var m [sha256.Size]byte
	h.Sum(m[:0])
	return m
}

// canonical is the MAC input, specified in docs/FORMAT.md.
func (v *Vault) canonical() []byte {
	b := append([]byte("sealfs v1 vault\x00"), v.version)
	b = append(b, v.id[:]...)
	b = append(b, byte(v.suite))
	b = binary.BigEndian.AppendUint32(b, uint32(v.chunkSize))
	b = append(b, byte(len(v.slots)))
	for i := range v.slots {
		s := &v.slots[i]
		b = append(b, byte(s.typ))
		b = binary.BigEndian.AppendUint32(b, s.kdf.Time)
		b = binary.BigEndian.AppendUint32(b, s.kdf.MemoryMiB)
		b = append(b, s.kdf.Threads)
		b = append(b, s.salt[:]...)
		b = append(b, s.nonce[:]...)
		b = append(b, s.wrapped[:]...)
	}
	return b
}
