package crypt

import (
	"crypto/hkdf"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

const (
	// FormatVersion is the version byte of every object this package seals.
	FormatVersion = 1
	// KeySize is the size of every symmetric key.
	KeySize = 32
)

// Key is a 256-bit secret. String redacts it.
type Key [KeySize]byte

func (Key) String() string { return "crypt.Key(REDACTED)" }

// GoString redacts too, so %#v does not print the bytes.
func (Key) GoString() string { return "crypt.Key(REDACTED)" }

// Keys are the per-purpose subkeys derived from the master key with HKDF.
// Nothing in sealfs uses the master key itself except to derive these and
// the vault MAC key.
type Keys struct {
	Suite     Suite
	ChunkSize int // plaintext bytes per chunk object, from the vault
	Data      Key // chunk objects
	Meta      Key // snapshots, journal batches, head, snapshot index
	Lease     Key // lease object
	Local     Key // local cache/staging/state files on this device
	// ContentID keys the content ids of format 2: HMAC-SHA256 keys, so
	// that identical content can be stored once without the bucket being
	// able to test a guess of a file's content (docs/FORMAT.md).
	ContentID Key
}

// HKDF info strings of the key derivation tree (docs/FORMAT.md, "Key
// derivation"). They are part of the format: changing one is a version bump.
const (
	infoData     = "sealfs v1 data"
	infoMeta     = "sealfs v1 meta"
	infoLease    = "sealfs v1 lease"
	infoLocal    = "sealfs v1 local"
	infoVaultMAC = "sealfs v1 vault mac"
	infoObject   = "sealfs v1 object" // || suite || object id
	infoRecovery = "sealfs v1 recovery slot"
	infoContent  = "sealfs v2 content id"
)

// DeriveKeys derives the per-purpose subkeys from the master key with
// HKDF-SHA256 (empty salt, one info string per purpose). suite and chunkSize
// are copied from the vault (Vault.Suite, Vault.ChunkSize).
func DeriveKeys(master Key, suite Suite, chunkSize int) *Keys {
	return &Keys{
		Suite:     suite,
		ChunkSize: chunkSize,
		Data:      subkey(master, infoData),
		Meta:      subkey(master, infoMeta),
		Lease:     subkey(master, infoLease),
		Local:     subkey(master, infoLocal),
		ContentID: subkey(master, infoContent),
	}
}

// subkey is HKDF-SHA256(ikm=secret, salt=empty, info) truncated to 32 bytes.
func subkey(secret Key, info string) Key {
	return hkdfKey(secret[:], nil, info)
}

func hkdfKey(secret, salt []byte, info string) Key {
	b, err := hkdf.Key(sha256.New, secret, salt, info, KeySize)
	if err != nil {
		// Only possible for an output length above 255*32 bytes.
		panic("crypt: internal error: hkdf: " + err.Error())
	}
	var k Key
	copy(k[:], b)
	clear(b)
	return k
}

// ObjectID is the identity of an immutable sealed object: random
// (NewObjectID), or in format 3 derived from the object's plaintext with
// the vault's ContentID key (ContentObjectID).
type ObjectID [16]byte

// NewObjectID returns a fresh random id read from rand (nil: crypto/rand).
// Ids must never be reused for different plaintext: the object key and
// nonces are derived from the id.
func NewObjectID(rand io.Reader) (ObjectID, error) {
	var id ObjectID
	if err := readRand(rand, id[:]); err != nil {
		return ObjectID{}, err
	}
	return id, nil
}

// Domain bytes of the two uses of the ContentID key (docs/FORMAT.md,
// "Content ids"): the content id of bytes that are a part of a shared
// object, and the id of a whole object.
const (
	contentPartDomain   = 0x01
	contentObjectDomain = 0x02
)

// ContentID is the content id of data that is stored as a part of a shared
// object (a small file in a pack): the first 16 bytes of
// HMAC-SHA256(ContentID, 0x01 || data). It is kept only inside sealed
// metadata, as the index that lets identical data be referenced instead
// of stored again.
func ContentID(k *Keys, data []byte) ObjectID { return contentMAC(k, contentPartDomain, data) }

// ContentObjectID is the id of an object whose whole plaintext, exactly as
// sealed (padding included), is plaintext: the first 16 bytes of
// HMAC-SHA256(ContentID, 0x02 || plaintext). Identical plaintext gets one
// id, so an object already in the store is referenced instead of uploaded
// again; different plaintexts never share an id (HMAC collision
// resistance), which is what makes the id's key and counter nonces safe,
// and sealing the same plaintext under its id again gives the same bytes.
// Without the key the bucket cannot compute an id, so it cannot confirm a
// guess of a file's content.
func ContentObjectID(k *Keys, plaintext []byte) ObjectID {
	return contentMAC(k, contentObjectDomain, plaintext)
}

// ContentObjectIDSegments is ContentObjectID of a plaintext of plainLen
// bytes handed over one segment at a time, as AppendSealObjectSegments
// takes it.
func ContentObjectIDSegments(k *Keys, plainLen int64, seg func(i int64) []byte) ObjectID {
	m := newContentMAC(k, contentObjectDomain)
	for i := int64(0); i*SegmentSize < plainLen; i++ {
		m.Write(seg(i))
	}
	return sumID(m)
}

func contentMAC(k *Keys, domain byte, data []byte) ObjectID {
	m := newContentMAC(k, domain)
	m.Write(data)
	return sumID(m)
}

// newContentMAC starts HMAC-SHA256(ContentID, domain || ...).
func newContentMAC(k *Keys, domain byte) hash.Hash {
	m := hmac.New(sha256.New, k.ContentID[:])
	m.Write([]byte{domain})
	return m
}

// sumID is the first 16 bytes of m's sum.
func sumID(m hash.Hash) ObjectID {
	var sum [sha256.Size]byte
	var id ObjectID
	copy(id[:], m.Sum(sum[:0]))
	return id
}

// ParseObjectID parses the 32 hex digits written by ObjectID.String
// (either case).
func ParseObjectID(s string) (ObjectID, error) {
	var id ObjectID
	if len(s) != 2*len(id) {
		return ObjectID{}, parseErr("object id", "", "%d characters, want %d hex digits", len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ObjectID{}, parseErr("object id", "", "not hex: %v", err)
	}
	return id, nil
}

// String returns the id as 32 lowercase hex digits.
func (id ObjectID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros (no object).
func (id ObjectID) IsZero() bool { return id == ObjectID{} }

// readRand fills b from r, or from crypto/rand when r is nil.
func readRand(r io.Reader, b []byte) error {
	if r == nil {
		r = cryptorand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("crypt: reading randomness: %w", err)
	}
	return nil
}
