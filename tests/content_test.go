package tests

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// pseudoRandom is n bytes that look random, the same for the same seed:
// AES-CTR keyed by the seed. A byte-at-a-time generator runs at ~3 MB/s
// under -race, and these tests write hundreds of megabytes.
func pseudoRandom(seed uint64, n int) []byte {
	b := make([]byte, n)
	fillPseudoRandom(b, seed)
	return b
}

// fillPseudoRandom overwrites b with pseudoRandom(seed, len(b)).
func fillPseudoRandom(b []byte, seed uint64) {
	var key [16]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("tests: " + err.Error())
	}
	clear(b)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(b, b)
}
