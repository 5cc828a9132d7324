package crypt

import (
	"bytes"
	"fmt"
	"testing"
)

// boundaryLens are the plaintext lengths every object test sweeps.
var boundaryLens = []int{
	0, 1, SegmentSize - 1, SegmentSize, SegmentSize + 1,
	2*SegmentSize - 1, 2 * SegmentSize, 2*SegmentSize + 1,
	DefaultChunkSize - 1, DefaultChunkSize,
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		for _, n := range boundaryLens {
			t.Run(fmt.Sprintf("%s/len=%d", suite, n), func(t *testing.T) {
				pt := detBytes(fmt.Sprint("pt", n), n)
				id := testID(fmt.Sprint(n))
				sealed, err := SealObject(k, id, pt)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(sealed)) != ObjectCipherSize(int64(n)) {
					t.Fatalf("sealed %d bytes, ObjectCipherSize says %d", len(sealed), ObjectCipherSize(int64(n)))
				}
				got, err := OpenObject(k, id, sealed)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatal("plaintext differs after round trip")
				}
				h, err := ParseObjectHeader(sealed)
				if err != nil || h != (ObjectHeader{FormatVersion, suite, id}) {
					t.Fatalf("header = %+v, %v", h, err)
				}
			})
		}
	}
}

func TestSealRefusesOversize(t *testing.T) {
	k := testKeys(t, SuiteAES256GCM)
	if _, err := SealObject(k, testID("big"), make([]byte, MaxObjectSize+1)); err == nil {
		t.Fatal("sealed more than MaxObjectSize")
	}
	if _, err := SealObject(k, testID("max"), make([]byte, MaxObjectSize)); err != nil {
		t.Fatalf("MaxObjectSize: %v", err)
	}
}

func TestSealUnknownSuite(t *testing.T) {
	k := testKeys(t, SuiteAES256GCM)
	k.Suite = 9
	if _, err := SealObject(k, testID("x"), []byte("x")); err == nil {
		t.Fatal("sealed with an unknown suite")
	}
}

func TestSizeRoundTrip(t *testing.T) {
	var lens []int64
	for _, n := range boundaryLens {
		lens = append(lens, int64(n))
	}
	for n := int64(0); n < 3*SegmentSize+40; n += 997 {
		lens = append(lens, n)
	}
	lens = append(lens, MaxObjectSize-1, MaxObjectSize)
	for _, n := range lens {
		c := ObjectCipherSize(n)
		p, err := ObjectPlainSize(c)
		if err != nil || p != n {
			t.Errorf("ObjectPlainSize(ObjectCipherSize(%d)=%d) = %d, %v", n, c, p, err)
		}
	}
}

func TestObjectPlainSizeRejects(t *testing.T) {
	h := int64(ObjectHeaderSize)
	for name, c := range map[string]int64{
		"empty":                    0,
		"header only":              h,
		"partial tag":              h + SegmentOverhead - 1,
		"partial tag after full":   h + cipherSegmentSize + 5,
		"empty segment after full": h + cipherSegmentSize + SegmentOverhead,
		"above MaxObjectSize":      ObjectCipherSize(MaxObjectSize) + 17,
		"negative":                 -1,
	} {
		if p, err := ObjectPlainSize(c); err == nil {
			t.Errorf("%s: ObjectPlainSize(%d) = %d, want error", name, c, p)
		}
	}
}

// TestSegmentSpanSweep reads every sub-range with endpoints at segment
// boundaries (and ±1) through SegmentSpan+OpenSegments, slicing the result
// as a reader would, and compares with the plaintext.
func TestSegmentSpanSweep(t *testing.T) {
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		for _, n := range []int64{0, 1, SegmentSize - 1, SegmentSize, SegmentSize + 1, 3*SegmentSize + 7} {
			pt := detBytes(fmt.Sprint("span", n), int(n))
			id := testID(fmt.Sprint("span", n))
			sealed, err := SealObject(k, id, pt)
			if err != nil {
				t.Fatal(err)
			}
			points := spanPoints(n)
			for _, off := range points {
				for _, end := range points {
					if end < off {
						continue
					}
					checkSpan(t, k, id, pt, sealed, off, end-off)
				}
			}
		}
	}
}

func spanPoints(n int64) []int64 {
	seen := map[int64]bool{}
	var pts []int64
	for b := int64(0); b <= n+SegmentSize; b += SegmentSize {
		for _, p := range []int64{b - 1, b, b + 1, n - 1, n, n + 1} {
			if p >= 0 && p <= n+1 && !seen[p] {
				seen[p] = true
				pts = append(pts, p)
			}
		}
	}
	return pts
}

func checkSpan(t *testing.T, k *Keys, id ObjectID, pt, sealed []byte, off, n int64) {
	t.Helper()
	plainLen := int64(len(pt))
	co, cl, first := SegmentSpan(plainLen, off, n)
	if co < ObjectHeaderSize || cl <= 0 || co+cl > int64(len(sealed)) {
		t.Fatalf("len=%d [%d,+%d): span [%d,+%d) outside the object of %d bytes", plainLen, off, n, co, cl, len(sealed))
	}
	got, err := OpenSegments(k, id, plainLen, first, sealed[co:co+cl])
	if err != nil {
		t.Fatalf("len=%d [%d,+%d): %v", plainLen, off, n, err)
	}
	start := first * SegmentSize
	end := min(off+n, plainLen)
	if off >= plainLen {
		return // nothing to read; the span still authenticated a segment
	}
	if off < start || end-start > int64(len(got)) {
		t.Fatalf("len=%d [%d,+%d): segments from %d hold %d bytes, too few", plainLen, off, n, start, len(got))
	}
	if !bytes.Equal(got[off-start:end-start], pt[off:end]) {
		t.Fatalf("len=%d [%d,+%d): wrong bytes", plainLen, off, n)
	}
	// The span must be minimal: it ends with the segment holding end-1.
	if n > 0 && start+int64(len(got)) > (end-1)/SegmentSize*SegmentSize+SegmentSize {
		t.Fatalf("len=%d [%d,+%d): span fetches more segments than needed", plainLen, off, n)
	}
}

func TestSegmentSpanEmptyObject(t *testing.T) {
	co, cl, first := SegmentSpan(0, 0, 100)
	if co != ObjectHeaderSize || cl != SegmentOverhead || first != 0 {
		t.Fatalf("SegmentSpan(0,0,100) = %d,%d,%d; want the one empty segment", co, cl, first)
	}
}

func TestOpenSegmentsBadArgs(t *testing.T) {
	k := testKeys(t, SuiteAES256GCM)
	id := testID("args")
	sealed, _ := SealObject(k, id, make([]byte, 2*SegmentSize))
	for name, c := range map[string]struct{ plainLen, first int64 }{
		"negative size":        {-1, 0},
		"size above max":       {MaxObjectSize + 1, 0},
		"negative segment":     {2 * SegmentSize, -1},
		"segment past the end": {2 * SegmentSize, 2},
	} {
		got, err := OpenSegments(k, id, c.plainLen, c.first, sealed[ObjectHeaderSize:])
		if err == nil || got != nil {
			t.Errorf("%s: got %d bytes, err %v", name, len(got), err)
		}
	}
}

func TestObjectIDText(t *testing.T) {
	id := testID("text")
	got, err := ParseObjectID(id.String())
	if err != nil || got != id || len(id.String()) != 32 {
		t.Fatalf("round trip %s: %v %v", id, got, err)
	}
	if _, err := ParseObjectID("xyz"); err == nil {
		t.Fatal("parsed a short id")
	}
	if !(ObjectID{}).IsZero() || id.IsZero() {
		t.Fatal("IsZero wrong")
	}
	a, _ := NewObjectID(nil)
	b, _ := NewObjectID(nil)
	if a == b || a.IsZero() {
		t.Fatal("NewObjectID(nil) not random")
	}
}

func TestAppendVariants(t *testing.T) {
	k := testKeys(t, SuiteXChaCha20Poly1305)
	id := testID("append")
	pt := detBytes("append", 2*SegmentSize+3)
	prefix := []byte("prefix")
	sealed, err := AppendSealObject(bytes.Clone(prefix), k, id, pt)
	if err != nil || !bytes.HasPrefix(sealed, prefix) {
		t.Fatalf("AppendSealObject: %v", err)
	}
	want, _ := SealObject(k, id, pt)
	if !bytes.Equal(sealed[len(prefix):], want) {
		t.Fatal("AppendSealObject differs from SealObject")
	}
	got, err := AppendOpenObject(bytes.Clone(prefix), k, id, want)
	if err != nil || !bytes.Equal(got, append(bytes.Clone(prefix), pt...)) {
		t.Fatalf("AppendOpenObject: %v", err)
	}
	co, cl, first := SegmentSpan(int64(len(pt)), SegmentSize+5, 10)
	got, err = AppendOpenSegments(bytes.Clone(prefix), k, id, int64(len(pt)), first, want[co:co+cl])
	if err != nil || !bytes.Equal(got[len(prefix):], pt[SegmentSize:2*SegmentSize]) {
		t.Fatalf("AppendOpenSegments: %v", err)
	}
	// A failure leaves no plaintext in the caller's buffer.
	buf := make([]byte, 0, len(pt))
	bad := bytes.Clone(want)
	bad[len(bad)-1] ^= 1
	got, err = AppendOpenObject(buf, k, id, bad)
	wantAuth(t, got, err)
	if !allZero(buf[:cap(buf)]) {
		t.Fatal("plaintext of authenticated segments left in dst after a later segment failed")
	}
}
