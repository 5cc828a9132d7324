package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"strconv"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Suite is the AEAD used for chunk objects.
type Suite byte

const (
	SuiteAES256GCM         Suite = 1 // default: AES-256-GCM, 96-bit nonce
	SuiteXChaCha20Poly1305 Suite = 2 // XChaCha20-Poly1305, 192-bit nonce
)

// suiteInfo is one row of the suite table.
type suiteInfo struct {
	name      string
	nonceSize int
	newAEAD   func(key []byte) (cipher.AEAD, error)
}

var suites = map[Suite]suiteInfo{
	SuiteAES256GCM:         {"aes-gcm", 12, newAESGCM},
	SuiteXChaCha20Poly1305: {"xchacha20", chacha20poly1305.NonceSizeX, chacha20poly1305.NewX},
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// tagSize is the same for both suites.
const tagSize = 16

// ParseSuite parses a suite name: "aes-gcm" or "xchacha20" (case-insensitive;
// "aes-256-gcm" and "xchacha20-poly1305" are accepted too).
func ParseSuite(name string) (Suite, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "aes-gcm", "aes-256-gcm", "aes256gcm":
		return SuiteAES256GCM, nil
	case "xchacha20", "xchacha20-poly1305", "xchacha":
		return SuiteXChaCha20Poly1305, nil
	}
	return 0, parseErr("suite", "", "unknown cipher suite %q (want aes-gcm or xchacha20)", name)
}

// String returns the suite name accepted by ParseSuite, or "suite(N)" for an
// unknown value.
func (s Suite) String() string {
	if si, ok := suites[s]; ok {
		return si.name
	}
	return "suite(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is a known suite.
func (s Suite) Valid() bool {
	_, ok := suites[s]
	return ok
}
