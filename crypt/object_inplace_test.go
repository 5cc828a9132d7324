package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestOpenSegmentsInPlace: every span of an object with a short last
// segment opens in place to the plaintext OpenSegments returns, one slice
// per segment inside the ciphertext buffer.
func TestOpenSegmentsInPlace(t *testing.T) {
	const size = 5*SegmentSize + 1000
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		id := testID("in place")
		pt := detBytes("in place", size)
		sealed, err := SealObject(k, id, pt)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range [][2]int64{{0, 1}, {0, size}, {SegmentSize - 1, 2}, {3 * SegmentSize, size}, {size - 1, 1}, {2 * SegmentSize, SegmentSize}} {
			off, n := r[0], min(r[1], size-r[0])
			co, cl, first := SegmentSpan(size, off, n)
			ct := cloneB(sealed[co : co+cl])
			segs, err := OpenSegmentsInPlace(k, id, size, first, ct)
			if err != nil {
				t.Fatalf("%s span %v: %v", suite, r, err)
			}
			want, err := OpenSegments(k, id, size, first, sealed[co:co+cl])
			if err != nil {
				t.Fatal(err)
			}
			got := bytes.Join(segs, nil)
			if !bytes.Equal(got, want) || !bytes.Equal(got, pt[first*SegmentSize:][:len(got)]) {
				t.Fatalf("%s span %v: wrong plaintext", suite, r)
			}
			for i, s := range segs {
				if &s[0] != &ct[int64(i)*cipherSegmentSize] {
					t.Fatalf("%s span %v: segment %d is not at its ciphertext", suite, r, i)
				}
				if i < len(segs)-1 && len(s) != SegmentSize {
					t.Fatalf("%s span %v: segment %d has %d bytes", suite, r, i, len(s))
				}
			}
		}
	}
}

// TestOpenSegmentsInPlaceTamper: a flipped bit anywhere, a cut or extended
// span, another segment index, id or key is ErrAuth with no segments, and
// the buffer is wiped: segments that opened before the failing one leave
// no plaintext behind.
func TestOpenSegmentsInPlaceTamper(t *testing.T) {
	const size = 5*SegmentSize + 1000
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		other := DeriveKeys(Key{1}, suite, DefaultChunkSize)
		id := testID("in place")
		sealed, err := SealObject(k, id, detBytes("in place", size))
		if err != nil {
			t.Fatal(err)
		}
		co, cl, first := SegmentSpan(size, 0, size)
		span := sealed[co : co+cl]
		mid, midLen, midFirst := SegmentSpan(size, SegmentSize, 2*SegmentSize)
		cases := []struct {
			name     string
			keys     *Keys
			id       ObjectID
			plainLen int64
			first    int64
			ct       []byte
		}{
			{"flipped first byte", k, id, size, first, flip(span, 0)},
			{"flipped bit in second segment", k, id, size, first, flip(span, int(cipherSegmentSize+20))},
			{"flipped tag of a middle segment", k, id, size, first, flip(span, int(3*cipherSegmentSize-1))},
			{"flipped last byte", k, id, size, first, flip(span, len(span)-1)},
			{"cut by a byte", k, id, size, first, cloneB(span[:len(span)-1])},
			{"cut by a tag", k, id, size, first, cloneB(span[:len(span)-SegmentOverhead])},
			{"cut mid segment", k, id, size, first, cloneB(span[:cipherSegmentSize+100])},
			{"extended by a byte", k, id, size, first, append(cloneB(span), 0)},
			{"span of the last segment as a middle one", k, id, size, 1, cloneB(span[len(span)-1000-SegmentOverhead:])},
			{"middle span shifted by a segment", k, id, size, midFirst + 1, cloneB(sealed[mid : mid+midLen])},
			{"middle span read as the object's end", k, id, 3 * SegmentSize, midFirst, cloneB(sealed[mid : mid+midLen])},
			{"past the last segment", k, id, size, 6, cloneB(span[:cipherSegmentSize])},
			{"negative segment", k, id, size, -1, cloneB(span)},
			{"empty", k, id, size, 0, []byte{}},
			{"wrong id", k, testID("other"), size, first, cloneB(span)},
			{"wrong key", other, id, size, first, cloneB(span)},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", suite, c.name), func(t *testing.T) {
				segs, err := OpenSegmentsInPlace(c.keys, c.id, c.plainLen, c.first, c.ct)
				if !errors.Is(err, ErrAuth) {
					t.Fatalf("err = %v, want ErrAuth", err)
				}
				if segs != nil {
					t.Fatalf("returned %d segments along with ErrAuth", len(segs))
				}
				if !bytes.Equal(c.ct, make([]byte, len(c.ct))) {
					t.Fatal("ciphertext buffer not wiped")
				}
			})
		}
	}
}

// TestSegmentOpenerInPieces: a span opened a few segments at a time with
// one SegmentOpener gives what OpenSegments gives; a tampered piece fails
// with its buffer wiped, and a piece given at the wrong segment fails.
func TestSegmentOpenerInPieces(t *testing.T) {
	const size = 9*SegmentSize + 1000
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		id := testID("pieces")
		sealed, err := SealObject(k, id, detBytes("pieces", size))
		if err != nil {
			t.Fatal(err)
		}
		co, cl, first := SegmentSpan(size, SegmentSize, size-SegmentSize)
		want, err := OpenSegments(k, id, size, first, sealed[co:co+cl])
		if err != nil {
			t.Fatal(err)
		}
		for _, piece := range []int64{1, 4, 64} {
			o, err := NewSegmentOpener(k, id, size)
			if err != nil {
				t.Fatal(err)
			}
			ct := cloneB(sealed[co : co+cl])
			var segs [][]byte
			for lo := int64(0); lo < cl; lo += piece * cipherSegmentSize {
				hi := min(lo+piece*cipherSegmentSize, cl)
				if segs, err = o.AppendOpenInPlace(segs, first+lo/cipherSegmentSize, ct[lo:hi]); err != nil {
					t.Fatalf("%s, %d segments a piece: %v", suite, piece, err)
				}
			}
			if got := bytes.Join(segs, nil); !bytes.Equal(got, want) {
				t.Fatalf("%s, %d segments a piece: wrong plaintext", suite, piece)
			}
		}
		o, _ := NewSegmentOpener(k, id, size)
		ct := flip(sealed[co:co+cl], int(5*cipherSegmentSize+7))
		if _, err := o.AppendOpenInPlace(nil, first, ct[:4*cipherSegmentSize]); err != nil {
			t.Fatal(err)
		}
		bad := ct[4*cipherSegmentSize : 8*cipherSegmentSize]
		if segs, err := o.AppendOpenInPlace(nil, first+4, bad); !errors.Is(err, ErrAuth) || segs != nil {
			t.Fatalf("%s: tampered piece: %v, %d segments", suite, err, len(segs))
		}
		if !bytes.Equal(bad, make([]byte, len(bad))) {
			t.Fatalf("%s: tampered piece not wiped", suite)
		}
		good := cloneB(sealed[co : co+4*cipherSegmentSize])
		if _, err := o.AppendOpenInPlace(nil, first+1, good); !errors.Is(err, ErrAuth) {
			t.Fatalf("%s: piece at the wrong segment: %v", suite, err)
		}
	}
}

// BenchmarkOpenSegmentsInPlace opens a whole 4 MiB chunk span in place
// (the copy restores the ciphertext, as a fresh response would).
func BenchmarkOpenSegmentsInPlace(b *testing.B) {
	k := testKeys(b, SuiteAES256GCM)
	id := testID("bench")
	sealed, _ := SealObject(k, id, make([]byte, DefaultChunkSize))
	co, cl, first := SegmentSpan(DefaultChunkSize, 0, DefaultChunkSize)
	buf := make([]byte, cl)
	b.SetBytes(DefaultChunkSize)
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, sealed[co:co+cl])
		if _, err := OpenSegmentsInPlace(k, id, DefaultChunkSize, first, buf); err != nil {
			b.Fatal(err)
		}
	}
}
