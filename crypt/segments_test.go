package crypt

import (
	"bytes"
	"fmt"
	"testing"
)

// TestSealObjectSegments: sealing a plaintext handed over segment by
// segment, and its content id, give exactly the bytes and the id of the
// whole plaintext in one slice, whatever memory each segment comes from.
func TestSealObjectSegments(t *testing.T) {
	for _, suite := range allSuites {
		k := testKeys(t, suite)
		for _, n := range []int{0, 1, SegmentSize - 1, SegmentSize, SegmentSize + 1, 3*SegmentSize + 17, DefaultChunkSize} {
			t.Run(fmt.Sprintf("%s/%d", suite, n), func(t *testing.T) {
				plain := detBytes(fmt.Sprint("segments ", n), n)
				id := ContentObjectID(k, plain)
				// Each segment in memory of its own, reused for the next.
				scratch := make([]byte, SegmentSize)
				seg := func(i int64) []byte {
					end := min(int64(len(plain)), (i+1)*SegmentSize)
					return scratch[:copy(scratch, plain[i*SegmentSize:end])]
				}
				if got := ContentObjectIDSegments(k, int64(n), seg); got != id {
					t.Errorf("ContentObjectIDSegments = %s, ContentObjectID = %s", got, id)
				}
				want, err := SealObject(k, id, plain)
				if err != nil {
					t.Fatal(err)
				}
				got, err := AppendSealObjectSegments([]byte("prefix"), k, id, int64(n), seg)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, append([]byte("prefix"), want...)) {
					t.Errorf("AppendSealObjectSegments differs from SealObject (%d and %d bytes)", len(got)-6, len(want))
				}
				if _, err := AppendSealObjectSegments(nil, k, id, int64(n)+1, seg); n > 0 && err == nil {
					t.Errorf("segments shorter than the stated length: sealed without an error")
				}
			})
		}
	}
}
