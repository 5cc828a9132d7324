package vault

import (
	"bytes"
	"testing"
)

// TestPrefaultKeepsContent checks that prefaulting a buffer, whole or at
// an unaligned offset, leaves bytes already in it as they were (the advice
// only maps pages in) and that the buffer stays usable.
func TestPrefaultKeepsContent(t *testing.T) {
	b := make([]byte, 1<<20+123)
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
	want := bytes.Clone(b)
	prefault(b)
	prefault(b[5:])
	prefault(b[:100])
	if !bytes.Equal(b, want) {
		t.Fatal("prefault changed the buffer's content")
	}
	fresh := make([]byte, 4<<20)
	prefault(fresh)
	if !bytes.Equal(fresh, make([]byte, len(fresh))) {
		t.Fatal("a fresh buffer is not zero after prefault")
	}
}
