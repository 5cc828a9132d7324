package crypt_test

import (
	"fmt"

	"github.com/sealfs/sealfs/crypt"
)

// A random read of 4 KiB at offset 1 MiB+100 of a sealed 4 MiB chunk:
// fetch only the one segment that holds it, open it, slice out the bytes.
func ExampleSegmentSpan() {
	keys := crypt.DeriveKeys(crypt.Key{1}, crypt.SuiteAES256GCM, crypt.DefaultChunkSize)
	id := crypt.ObjectID{2}
	plain := make([]byte, crypt.DefaultChunkSize)
	for i := range plain {
		plain[i] = byte(i / 1000)
	}
	sealed, _ := crypt.SealObject(keys, id, plain)

	off, n := int64(1<<20+100), int64(4096)
	cOff, cLen, first := crypt.SegmentSpan(int64(len(plain)), off, n)
	fetched := sealed[cOff : cOff+cLen] // GetRange(key, cOff, cLen) in real life
	segs, err := crypt.OpenSegments(keys, id, int64(len(plain)), first, fetched)
	if err != nil {
		panic(err)
	}
	start := off - first*crypt.SegmentSize
	got := segs[start : start+n]
	fmt.Println("fetch", cLen, "of", len(sealed), "bytes from", cOff, "segment", first)
	fmt.Println(got[0] == plain[off], got[n-1] == plain[off+n-1])
	// Output:
	// fetch 65552 of 4195346 bytes from 1048850 segment 16
	// true true
}

func ExampleObjectCipherSize() {
	for _, n := range []int64{0, 65536, 65537, crypt.DefaultChunkSize} {
		c := crypt.ObjectCipherSize(n)
		p, _ := crypt.ObjectPlainSize(c)
		fmt.Println(n, c, p)
	}
	// Output:
	// 0 34 0
	// 65536 65570 65536
	// 65537 65587 65537
	// 4194304 4195346 4194304
}
