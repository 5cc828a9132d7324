package crypt

// API SKELETON written by the lead so that remote/, fs/ and cmd/ can be
// written in parallel. The crypt implementer replaces the bodies (and may
// split this file), but keeps every exported name and signature below.
// Additions are fine; changes to these signatures must be agreed first.

import (
	"errors"
	"io"
)

const (
	// FormatVersion is the version byte of every object this package seals.
	FormatVersion = 1
	// SegmentSize is the plaintext size of one AEAD segment inside a chunk object.
	SegmentSize = 64 << 10
	// DefaultChunkSize is the default plaintext size of one chunk object.
	DefaultChunkSize = 4 << 20
	// MaxObjectSize is the largest plaintext a single sealed object may hold.
	MaxObjectSize = 64 << 20
	// KeySize is the size of every symmetric key.
	KeySize = 32
)

// ErrAuth is the one authentication error: wrong key, tampered or truncated
// data. It carries no detail on purpose.
var ErrAuth = errors.New("crypt: message authentication failed")

// Suite is the AEAD used for chunk objects.
type Suite byte

const (
	SuiteAES256GCM         Suite = 1 // default
	SuiteXChaCha20Poly1305 Suite = 2
)

// Key is a 256-bit secret. String redacts it.
type Key [KeySize]byte

func (Key) String() string { return "crypt.Key(REDACTED)" }

// Keys are the per-purpose subkeys derived from the master key with HKDF.
type Keys struct {
	Suite     Suite
	ChunkSize int // plaintext bytes per chunk object, from the vault
	Data      Key // chunk objects
	Meta      Key // snapshots, journal batches, head, snapshot index
	Lease     Key // lease object
	Local     Key // local cache/staging/state files on this device
}

// ObjectID is the random identity of an immutable sealed object.
type ObjectID [16]byte

// RecordKind names what a sealed metadata record is; it is bound into the AAD.
type RecordKind byte

const (
	KindHead      RecordKind = 1
	KindJournal   RecordKind = 2
	KindSnapshot  RecordKind = 3 // full metadata snapshot (tree)
	KindLease     RecordKind = 4
	KindSnapIndex RecordKind = 5 // one named snapshot's descriptor (id, time, device...)
	KindLocal     RecordKind = 6 // local state files (high-water mark, intent log, staged objects' index)
)

// KDFParams are Argon2id parameters.
type KDFParams struct {
	Time      uint32 // iterations
	MemoryMiB uint32
	Threads   uint8
}

// RecoveryKey is the 256-bit recovery secret. String redacts; Display gives
// the 64 hex digits in 16 groups of 4 for showing the user once.
type RecoveryKey [32]byte

func (RecoveryKey) String() string { return "crypt.RecoveryKey(REDACTED)" }

var (
	DefaultKDF = KDFParams{Time: 3, MemoryMiB: 256, Threads: 4}
	MinKDF     = KDFParams{Time: 2, MemoryMiB: 64, Threads: 1}
)

// --- functions the implementer fills in -------------------------------------

func ParseSuite(name string) (Suite, error)                   { panic("todo") } // "aes-gcm" | "xchacha20"
func (s Suite) String() string                                { panic("todo") }
func NewObjectID(rand io.Reader) (ObjectID, error)            { panic("todo") }
func ParseObjectID(hex string) (ObjectID, error)              { panic("todo") }
func (id ObjectID) String() string                            { panic("todo") } // 32 lowercase hex
func (id ObjectID) IsZero() bool                              { panic("todo") }
func (r RecoveryKey) Display() string                         { panic("todo") }
func ParseRecoveryKey(s string) (RecoveryKey, error)          { panic("todo") }
func DeriveKeys(master Key, suite Suite, chunkSize int) *Keys { panic("todo") }

// Vault is the parsed vault.json.
type Vault struct{}

// NewVault creates a vault with a fresh random master key, a passphrase slot
// and a recovery slot.
func NewVault(rand io.Reader, suite Suite, chunkSize int, passphrase []byte, kdf KDFParams) (v *Vault, master Key, rk RecoveryKey, err error) {
	panic("todo")
}
func ParseVault(data []byte) (*Vault, error)                     { panic("todo") }
func (v *Vault) Marshal() ([]byte, error)                        { panic("todo") }
func (v *Vault) UnlockPassphrase(passphrase []byte) (Key, error) { panic("todo") }
func (v *Vault) UnlockRecovery(rk RecoveryKey) (Key, error)      { panic("todo") }
func (v *Vault) SetPassphrase(rand io.Reader, master Key, pass []byte, kdf KDFParams) error {
	panic("todo")
}
func (v *Vault) Suite() Suite   { panic("todo") }
func (v *Vault) ChunkSize() int { panic("todo") }
func (v *Vault) KDF() KDFParams { panic("todo") }

// Chunk objects.
func SealObject(k *Keys, id ObjectID, plaintext []byte) ([]byte, error)         { panic("todo") }
func OpenObject(k *Keys, id ObjectID, sealed []byte) ([]byte, error)            { panic("todo") }
func ObjectCipherSize(plainLen int64) int64                                     { panic("todo") }
func ObjectPlainSize(cipherLen int64) (int64, error)                            { panic("todo") }
func SegmentSpan(plainLen, off, n int64) (cipherOff, cipherLen, firstSeg int64) { panic("todo") }
func OpenSegments(k *Keys, id ObjectID, plainLen, firstSeg int64, ciphertext []byte) ([]byte, error) {
	panic("todo")
}

// Sealed metadata records.
func SealRecord(rand io.Reader, key Key, kind RecordKind, seq uint64, payload []byte) ([]byte, error) {
	panic("todo")
}
func OpenRecord(key Key, kind RecordKind, seq uint64, sealed []byte) ([]byte, error) { panic("todo") }
func RecordSeq(sealed []byte) (uint64, error)                                        { panic("todo") }
