package crypt

import (
	"bytes"
	"fmt"
	"testing"
)

// tamperObject is the object every tamper case starts from: three full
// segments and a partial fourth.
const tamperLen = 3*SegmentSize + 1000

func cloneB(b []byte) []byte { return bytes.Clone(b) }

func flip(b []byte, i int) []byte {
	b = cloneB(b)
	b[i] ^= 0x01
	return b
}

// segAt returns the stored bounds of segment i of an object of plainLen.
func segAt(plainLen, i int64) (lo, hi int64) {
	lo = ObjectHeaderSize + i*cipherSegmentSize
	return lo, lo + segmentPlainLen(plainLen, i) + SegmentOverhead
}

// TestTamperObject: every way the bucket can alter a chunk object makes
// OpenObject fail with ErrAuth and return no bytes.
func TestTamperObject(t *testing.T) {
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		other := DeriveKeys(Key{1}, suite, DefaultChunkSize)
		// Same data key, the other suite.
		otherSuite := &Keys{Suite: SuiteXChaCha20Poly1305 + SuiteAES256GCM - suite, ChunkSize: k.ChunkSize, Data: k.Data}
		id, idB := testID("A"), testID("B")
		pt := detBytes("tamper", tamperLen)
		a, _ := SealObject(k, id, pt)
		b, _ := SealObject(k, idB, pt) // same plaintext, other id
		s0lo, s0hi := segAt(tamperLen, 0)
		s1lo, s1hi := segAt(tamperLen, 1)
		lastLo, _ := segAt(tamperLen, 3)
		full2, _ := SealObject(k, id, pt[:2*SegmentSize])
		cases := []struct {
			name   string
			keys   *Keys
			id     ObjectID
			sealed []byte
		}{
			{"flipped version byte", k, id, flip(a, 0)},
			{"flipped suite byte", k, id, flip(a, 1)},
			{"flipped id byte", k, id, flip(a, 2)},
			{"flipped bit in first segment", k, id, flip(a, int(s0lo))},
			{"flipped bit in middle segment", k, id, flip(a, int(s1lo+100))},
			{"flipped bit in last segment", k, id, flip(a, int(lastLo))},
			{"flipped bit in tag", k, id, flip(a, int(s0hi-1))},
			{"flipped last byte", k, id, flip(a, len(a)-1)},
			{"swapped segments 0 and 1", k, id, swapSegs(a, s0lo, s1lo, cipherSegmentSize)},
			{"segment moved from another object", k, id, splice(a, b, s1lo, s1hi)},
			{"object swapped with another id", k, id, b},
			{"other object with header rewritten", k, id, append(cloneB(a[:ObjectHeaderSize]), b[ObjectHeaderSize:]...)},
			{"truncated to header only", k, id, cloneB(a[:ObjectHeaderSize])},
			{"truncated to nothing", k, id, nil},
			{"truncated at segment boundary", k, id, cloneB(a[:lastLo])},
			{"truncated to first segment", k, id, cloneB(a[:s0hi])},
			{"truncated full-segment object", k, id, cloneB(full2[:ObjectHeaderSize+cipherSegmentSize])},
			{"truncated mid segment", k, id, cloneB(a[:len(a)-7])},
			{"extended by a byte", k, id, append(cloneB(a), 0)},
			{"extended by an empty segment", k, id, append(cloneB(full2), make([]byte, SegmentOverhead)...)},
			{"extended by a copied segment", k, id, append(cloneB(full2), full2[ObjectHeaderSize:ObjectHeaderSize+cipherSegmentSize]...)},
			{"wrong suite", otherSuite, id, a},
			{"wrong key", other, id, a},
			{"wrong id", k, idB, a},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", suite, c.name), func(t *testing.T) {
				got, err := OpenObject(c.keys, c.id, c.sealed)
				wantAuth(t, got, err)
			})
		}
	}
}

func swapSegs(obj []byte, lo1, lo2, n int64) []byte {
	out := cloneB(obj)
	copy(out[lo1:lo1+n], obj[lo2:lo2+n])
	copy(out[lo2:lo2+n], obj[lo1:lo1+n])
	return out
}

func splice(dst, src []byte, lo, hi int64) []byte {
	out := cloneB(dst)
	copy(out[lo:hi], src[lo:hi])
	return out
}

// TestTamperSegments: the same for range reads, which never see the header.
func TestTamperSegments(t *testing.T) {
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		id, idB := testID("A"), testID("B")
		pt := detBytes("tamper", tamperLen)
		a, _ := SealObject(k, id, pt)
		b, _ := SealObject(k, idB, pt)
		seg := func(obj []byte, i int64) []byte { lo, hi := segAt(tamperLen, i); return cloneB(obj[lo:hi]) }
		full2, _ := SealObject(k, id, pt[:2*SegmentSize])
		lastOfFull2 := cloneB(full2[ObjectHeaderSize+cipherSegmentSize:])
		cases := []struct {
			name            string
			plainLen, first int64
			ct              []byte
		}{
			{"flipped bit", tamperLen, 1, flip(seg(a, 1), 5)},
			{"flipped tag", tamperLen, 1, flip(seg(a, 1), cipherSegmentSize-1)},
			{"segment of another index", tamperLen, 1, seg(a, 2)},
			{"segment of another object", tamperLen, 1, seg(b, 1)},
			{"swapped pair", tamperLen, 1, append(seg(a, 2), seg(a, 1)...)},
			{"inner segment claimed last", 2 * SegmentSize, 1, seg(a, 1)},
			{"last segment claimed inner", 3 * SegmentSize, 1, lastOfFull2},
			{"truncated mid segment", tamperLen, 1, seg(a, 1)[:100]},
			{"empty", tamperLen, 1, nil},
			{"extended past the last segment", tamperLen, 3, append(seg(a, 3), seg(a, 1)...)},
			{"extended by bytes", tamperLen, 1, append(seg(a, 1), 1, 2, 3)},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", suite, c.name), func(t *testing.T) {
				got, err := OpenSegments(k, id, c.plainLen, c.first, c.ct)
				wantAuth(t, got, err)
			})
		}
	}
}

// TestTamperEveryBit flips every bit of a small object (header included):
// each must fail.
func TestTamperEveryBit(t *testing.T) {
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		id := testID("bits")
		a, _ := SealObject(k, id, []byte("a small file shared in one object"))
		for i := range len(a) * 8 {
			c := cloneB(a)
			c[i/8] ^= 1 << (i % 8)
			got, err := OpenObject(k, id, c)
			if got != nil || err == nil {
				t.Fatalf("%s: bit %d flipped: opened", suite, i)
			}
		}
	}
}

// TestTamperRecord: a record opened as another kind or sequence, under
// another key, or altered in any byte fails with ErrAuth.
func TestTamperRecord(t *testing.T) {
	keys := testKeys(t, SuiteAES256GCM)
	payload := []byte(`{"tree":"…"}`)
	rec, err := SealRecord(newDetRand("rec"), keys.Meta, KindJournal, 7, payload)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := SealRecord(newDetRand("rec2"), keys.Meta, KindSnapshot, 7, payload)
	rewritten := cloneB(other)
	rewritten[1] = byte(KindJournal)
	cases := []struct {
		name string
		key  Key
		kind RecordKind
		seq  uint64
		rec  []byte
	}{
		{"opened as another kind", keys.Meta, KindSnapshot, 7, rec},
		{"opened as another seq", keys.Meta, KindJournal, 8, rec},
		{"replayed snapshot with header rewritten", keys.Meta, KindJournal, 7, rewritten},
		{"wrong key (lease)", keys.Lease, KindJournal, 7, rec},
		{"truncated", keys.Meta, KindJournal, 7, rec[:len(rec)-1]},
		{"truncated to header", keys.Meta, KindJournal, 7, rec[:recordHeaderSize]},
		{"extended", keys.Meta, KindJournal, 7, append(cloneB(rec), 0)},
		{"empty", keys.Meta, KindJournal, 7, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := OpenRecord(c.key, c.kind, c.seq, c.rec)
			wantAuth(t, got, err)
		})
	}
	t.Run("every bit flipped", func(t *testing.T) {
		for i := range len(rec) * 8 {
			c := cloneB(rec)
			c[i/8] ^= 1 << (i % 8)
			got, err := OpenRecord(keys.Meta, KindJournal, 7, c)
			if got != nil || err == nil {
				t.Fatalf("bit %d flipped: opened", i)
			}
		}
	})
}

// TestTamperHeaderAAD: segments sealed under the right object key and
// nonces but with another AAD (a future format version's header, or no
// header at all) are refused behind a valid version-1 header, by whole
// reads and range reads alike. Only the header in the AAD stops them: the
// key and nonces are the real ones.
func TestTamperHeaderAAD(t *testing.T) {
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		id := testID("A")
		pt := detBytes("aad", 2*SegmentSize+10)
		for name, aad := range map[string]func(hdr []byte) []byte{
			"sealed for format version 2": func(hdr []byte) []byte { h := cloneB(hdr); h[0] = 2; return h },
			"sealed with no header":       func([]byte) []byte { return nil },
		} {
			t.Run(fmt.Sprintf("%s/%s", suite, name), func(t *testing.T) {
				s, err := newObjectSealer(k, id)
				if err != nil {
					t.Fatal(err)
				}
				forged := cloneB(s.hdr[:]) // a valid version-1 header
				n := segmentCount(int64(len(pt)))
				for i := range n {
					seg := pt[i*SegmentSize : i*SegmentSize+segmentPlainLen(int64(len(pt)), i)]
					forged = s.aead.Seal(forged, s.segNonce(i, i == n-1), seg, aad(s.hdr[:]))
				}
				got, err := OpenObject(k, id, forged)
				wantAuth(t, got, err)
				got, err = OpenSegments(k, id, int64(len(pt)), 0, forged[ObjectHeaderSize:])
				wantAuth(t, got, err)
			})
		}
	}
}
