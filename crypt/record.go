package crypt

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"golang.org/x/crypto/chacha20poly1305"
)

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

const (
	// recordHeaderSize is version(1) || kind(1) || seq(8, big endian): the AAD.
	recordHeaderSize = 10
	recordNonceSize  = chacha20poly1305.NonceSizeX
	recordLenSize    = 8
	// RecordOverhead is the fixed part of a sealed record's size: header,
	// nonce, tag and the sealed length prefix. Padding comes on top.
	RecordOverhead = recordHeaderSize + recordNonceSize + tagSize + recordLenSize
	// MaxRecordSize is the largest payload SealRecord accepts.
	MaxRecordSize = 1 << 30
)

// SealRecord seals payload as the record (kind, seq) under key (a subkey:
// Keys.Meta, Keys.Lease or Keys.Local):
//
//	version(1) || kind(1) || seq(8) || nonce(24) || XChaCha20-Poly1305(
//	    key, nonce, len(payload)(8) || payload || zero padding, AAD = first 10 bytes)
//
// The padding brings the sealed plaintext to the Padmé length of
// 8+len(payload), so the stored size reveals only about log log of the size.
// The nonce is random (from rand, nil: crypto/rand): records are written by
// several devices over years under one key with no shared counter, and 192
// random bits never collide in practice, which 96 bits (GCM) cannot promise.
func SealRecord(rand io.Reader, key Key, kind RecordKind, seq uint64, payload []byte) ([]byte, error) {
	if len(payload) > MaxRecordSize {
		return nil, fmt.Errorf("crypt: record payload of %d bytes exceeds the maximum %d", len(payload), MaxRecordSize)
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("crypt: internal error: %w", err)
	}
	inner := padme(uint64(recordLenSize + len(payload)))
	out := make([]byte, recordHeaderSize+recordNonceSize, recordHeaderSize+recordNonceSize+int(inner)+tagSize)
	putRecordHeader(out, kind, seq)
	if err := readRand(rand, out[recordHeaderSize:]); err != nil {
		return nil, err
	}
	pt := make([]byte, inner)
	binary.BigEndian.PutUint64(pt, uint64(len(payload)))
	copy(pt[recordLenSize:], payload)
	out = aead.Seal(out, out[recordHeaderSize:], pt, out[:recordHeaderSize])
	clear(pt)
	return out, nil
}

func putRecordHeader(b []byte, kind RecordKind, seq uint64) {
	b[0] = FormatVersion
	b[1] = byte(kind)
	binary.BigEndian.PutUint64(b[2:recordHeaderSize], seq)
}

// OpenRecord authenticates a sealed record that must be record (kind, seq)
// under key and returns its payload. A record of another kind or position,
// under another key, edited, truncated or with bad padding is ErrAuth.
func OpenRecord(key Key, kind RecordKind, seq uint64, sealed []byte) ([]byte, error) {
	fail := func() error { return fmt.Errorf("crypt: record kind %d seq %d: %w", kind, seq, ErrAuth) }
	if len(sealed) < RecordOverhead {
		return nil, fail()
	}
	var want [recordHeaderSize]byte
	putRecordHeader(want[:], kind, seq)
	if string(sealed[:recordHeaderSize]) != string(want[:]) {
		return nil, fail()
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("crypt: internal error: %w", err)
	}
	nonce := sealed[recordHeaderSize : recordHeaderSize+recordNonceSize]
	pt, err := aead.Open(nil, nonce, sealed[recordHeaderSize+recordNonceSize:], want[:])
	if err != nil {
		return nil, fail()
	}
	n := binary.BigEndian.Uint64(pt)
	// Authenticated, so a mismatch here is a bug in whoever sealed it; still
	// refuse rather than guess.
	if n > MaxRecordSize || padme(recordLenSize+n) != uint64(len(pt)) || !allZero(pt[recordLenSize+n:]) {
		clear(pt)
		return nil, fail()
	}
	return pt[recordLenSize : recordLenSize+n : recordLenSize+n], nil
}

// RecordSeq reads the cleartext sequence number of a sealed record without
// authenticating it, so a caller listing records can then call OpenRecord
// with it. It fails with a *ParseError for input too short to be a record or
// with an unknown version.
func RecordSeq(sealed []byte) (uint64, error) {
	_, seq, err := ParseRecordHeader(sealed)
	return seq, err
}

// ParseRecordHeader is RecordSeq that also returns the (unauthenticated)
// kind byte.
func ParseRecordHeader(sealed []byte) (RecordKind, uint64, error) {
	if len(sealed) < RecordOverhead {
		return 0, 0, parseErr("record", "", "%d bytes is shorter than the minimum %d", len(sealed), RecordOverhead)
	}
	if sealed[0] != FormatVersion {
		return 0, 0, parseErr("record", "version", "unsupported format version %d (this sealfs reads %d): written by a newer sealfs, or damaged", sealed[0], FormatVersion)
	}
	return RecordKind(sealed[1]), binary.BigEndian.Uint64(sealed[2:recordHeaderSize]), nil
}

// padme is the Padmé padded length of l (Nikitin et al., "Reducing metadata
// leakage from encrypted files and communication with PURBs", 2019): l
// rounded up so that only the top floor(log2 e)+1 bits of its exponent e's
// worth of mantissa remain, at most 12% larger, leaking O(log log l) bits.
func padme(l uint64) uint64 {
	if l < 2 {
		return l
	}
	e := bits.Len64(l) - 1       // floor(log2 l)
	s := bits.Len64(uint64(e))   // floor(log2 e) + 1
	mask := uint64(1)<<(e-s) - 1 // low bits to clear
	return (l + mask) &^ mask
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
