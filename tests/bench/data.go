package main

import (
	"crypto/rand"
	"encoding/binary"
)

// patternBlock is the period of the benchmark's file contents.
const patternBlock = 64 << 10

// pattern is cheap, checkable file content: every 64 KiB block is one random
// block with its first 8 bytes replaced by the block's number xor a salt.
// No two blocks of a file are equal, and a reader can verify what it got at
// memory speed instead of hashing (on two cores a hash would take CPU from
// the file system being measured).
type pattern struct {
	base []byte
	salt uint64
}

func newPattern() pattern {
	p := pattern{base: make([]byte, patternBlock)}
	_, _ = rand.Read(p.base)
	var s [8]byte
	_, _ = rand.Read(s[:])
	p.salt = binary.LittleEndian.Uint64(s[:])
	return p
}

// fill writes the content at offset off into buf.
func (p pattern) fill(buf []byte, off int64) {
	for len(buf) > 0 {
		n := p.at(off, buf, func(dst, src []byte) bool { copy(dst, src); return true })
		buf, off = buf[n:], off+int64(n)
	}
}

// check reports whether buf holds the content at offset off.
func (p pattern) check(buf []byte, off int64) bool {
	for len(buf) > 0 {
		ok := true
		n := p.at(off, buf, func(got, want []byte) bool { ok = string(got) == string(want); return ok })
		if !ok {
			return false
		}
		buf, off = buf[n:], off+int64(n)
	}
	return true
}

// at applies f to the part of buf within the block at off and the expected
// bytes, and returns that part's length.
func (p pattern) at(off int64, buf []byte, f func(buf, want []byte) bool) int {
	block, in := off/patternBlock, int(off%patternBlock)
	n := min(len(buf), patternBlock-in)
	var head [8]byte
	binary.LittleEndian.PutUint64(head[:], uint64(block)^p.salt)
	if in < 8 {
		h := min(8-in, n)
		if !f(buf[:h], head[in:in+h]) {
			return n
		}
		f(buf[h:n], p.base[in+h:in+n])
		return n
	}
	f(buf[:n], p.base[in:in+n])
	return n
}

// splitmix is a small seeded generator for reproducible offsets.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *splitmix) intn(n int64) int64 { return int64(s.next() % uint64(n)) }
