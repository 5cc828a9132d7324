package fs

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypt"
)

func openTestObject(t testing.TB, size int) (*crypt.Keys, crypt.ObjectID, []byte, []byte) {
	t.Helper()
	var master crypt.Key
	master[0] = 7
	k := crypt.DeriveKeys(master, crypt.SuiteAES256GCM, crypt.DefaultChunkSize)
	var id crypt.ObjectID
	id[0] = 1
	plain := pattern(3, size)
	sealed, err := crypt.SealObject(k, id, plain)
	if err != nil {
		t.Fatal(err)
	}
	return k, id, plain, sealed
}

// TestOpenInPlace: every span of a multi-segment object (with a short last
// segment) opens to the right plaintext, and a flipped bit anywhere in the
// span is ErrAuth with the buffer wiped.
func TestOpenInPlace(t *testing.T) {
	size := 5*crypt.SegmentSize + 1000
	k, id, plain, sealed := openTestObject(t, size)
	for _, r := range [][2]int64{{0, 1}, {0, int64(size)}, {crypt.SegmentSize - 1, 2}, {3 * crypt.SegmentSize, int64(size)}, {int64(size) - 1, 1}} {
		off, n := r[0], min(r[1], int64(size)-r[0])
		cOff, cLen, first := crypt.SegmentSpan(int64(size), off, n)
		ct := bytes.Clone(sealed[cOff:][:cLen])
		segs, err := openInPlace(k, id, int64(size), first, ct)
		if err != nil {
			t.Fatalf("span %v: %v", r, err)
		}
		var got []byte
		for _, s := range segs {
			got = append(got, s...)
		}
		start := first * crypt.SegmentSize
		if !bytes.Equal(got, plain[start:start+int64(len(got))]) || int64(len(got)) < off+n-start {
			t.Fatalf("span %v: wrong plaintext (%d bytes from %d)", r, len(got), start)
		}
	}
	cOff, cLen, first := crypt.SegmentSpan(int64(size), 0, int64(size))
	for _, flip := range []int64{0, crypt.SegmentSize + 20, cLen - 1} {
		ct := bytes.Clone(sealed[cOff:][:cLen])
		ct[flip] ^= 1
		if segs, err := openInPlace(k, id, int64(size), first, ct); !errors.Is(err, crypt.ErrAuth) || segs != nil {
			t.Fatalf("flip at %d: %v, %d segments", flip, err, len(segs))
		}
		if !bytes.Equal(ct, make([]byte, len(ct))) {
			t.Fatalf("flip at %d: buffer not wiped", flip)
		}
	}
	for _, cut := range []int64{1, crypt.SegmentOverhead} {
		ct := bytes.Clone(sealed[cOff:][:cLen-cut])
		if _, err := openInPlace(k, id, int64(size), first, ct); !errors.Is(err, crypt.ErrAuth) {
			t.Fatalf("cut %d: %v", cut, err)
		}
	}
}

// BenchmarkOpenChunk compares opening a whole 4 MiB chunk into a fresh
// buffer (crypt.OpenSegments) with opening it in place.
func BenchmarkOpenChunk(b *testing.B) {
	size := crypt.DefaultChunkSize
	k, id, _, sealed := openTestObject(b, size)
	ct := sealed[crypt.ObjectHeaderSize:]
	buf := make([]byte, len(ct))
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := crypt.OpenSegments(k, id, int64(size), 0, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("in-place", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			copy(buf, ct) // stands in for the store's response buffer
			if _, err := openInPlace(k, id, int64(size), 0, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCopyChunk(b *testing.B) {
	ct := make([]byte, crypt.ObjectCipherSize(crypt.DefaultChunkSize))
	buf := make([]byte, len(ct))
	b.SetBytes(int64(len(ct)))
	for b.Loop() {
		copy(buf, ct)
	}
}
