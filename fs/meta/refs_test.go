package meta

import (
	"encoding/binary"
	"runtime"
	"slices"
	"testing"

	"github.com/sealfs/sealfs/crypt"
)

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// testID is a distinct object id for i (random-looking, as HMAC ids are).
func testID(i, salt uint64) crypt.ObjectID {
	var id crypt.ObjectID
	binary.LittleEndian.PutUint64(id[:], (i+1)*0x9e3779b97f4a7c15^salt)
	binary.LittleEndian.PutUint64(id[8:], i^salt)
	return id
}

// indexBytes returns the heap bytes per distinct object of a tree's
// content index holding n whole-chunk objects (the refs map) and, with
// packed, n packed small files in n/64 packs (refs + content entries).
func indexBytes(n int, packed bool) float64 {
	t := NewTree(testChunk, 0, 0, 1)
	before := heapAlloc()
	for i := range n {
		e := Extent{Object: testID(uint64(i), 1), ObjectSize: testChunk, Length: testChunk}
		if packed {
			e = Extent{Object: testID(uint64(i/64), 2), ObjectSize: 1 << 20, Offset: uint32(i%64) << 14, Length: 1 << 14, Content: testID(uint64(i), 3)}
		}
		t.ref(e, 1)
		t.noteContent(e)
	}
	after := heapAlloc()
	runtime.KeepAlive(t)
	return float64(after-before) / float64(n)
}

// TestContentIndexMemory measures what the index of content ids costs
// per distinct chunk or packed extent (issue 21: at most 64 bytes), at
// sizes on both sides of the maps' growth steps.
func TestContentIndexMemory(t *testing.T) {
	for _, n := range []int{100_000, 300_000, 600_000, 1_000_000} {
		chunks, packed := indexBytes(n, false), indexBytes(n, true)
		t.Logf("n=%d: %.1f B per whole chunk, %.1f B per packed extent", n, chunks, packed)
		if chunks > 64 || packed > 64 {
			t.Errorf("n=%d: %.1f B per whole chunk, %.1f B per packed extent: want at most 64", n, chunks, packed)
		}
	}
}

// TestContentIndex: a packed extent's content id finds its bytes while
// its object is referenced, not after; a load's pruneContent keeps the
// live entries right (their objects renumbered) and a clone is apart.
func TestContentIndex(t *testing.T) {
	tr := NewTree(testChunk, 0, 0, 1)
	var exts []Extent
	for p := range 3 {
		for i := range 4 {
			e := Extent{Object: testID(uint64(p), 7), ObjectSize: 4000 + uint32(p), Offset: uint32(i * 1000), Length: 1000 - uint32(i), Content: testID(uint64(p*4+i), 8)}
			exts = append(exts, e)
			tr.ref(e, 1)
			tr.noteContent(e)
		}
	}
	// Parts at the limits of a contentRef, and one past them.
	big := Extent{Object: testID(9, 7), ObjectSize: 1 << 25, Offset: maxContentPart, Length: maxContentPart, Content: testID(99, 8)}
	past := Extent{Object: testID(9, 7), ObjectSize: 1 << 25, Offset: maxContentPart + 1, Length: 1, Content: testID(100, 8)}
	for _, e := range []Extent{big, past} {
		tr.ref(e, 1)
		tr.noteContent(e)
	}
	check := func(when string, live func(e Extent) bool) {
		t.Helper()
		for _, e := range append(slices.Clone(exts), big) {
			got, ok := tr.ContentExtent(e.Content)
			switch {
			case live(e) && (!ok || got != e):
				t.Errorf("%s: %v -> %v, %v; want the extent", when, e.Content, got, ok)
			case !live(e) && ok:
				t.Errorf("%s: %v -> %v of an unreferenced object", when, e.Content, got)
			}
		}
		if _, ok := tr.ContentExtent(past.Content); ok {
			t.Errorf("%s: an offset past 24 bits was indexed", when)
		}
	}
	all := func(Extent) bool { return true }
	check("noted", all)
	copied := tr.clone()

	// The middle pack goes: its parts are no longer found.
	gone := exts[4].Object
	for _, e := range exts[4:8] {
		tr.ref(e, -1)
	}
	notGone := func(e Extent) bool { return e.Object != gone }
	check("object unreferenced", notGone)
	tr.pruneContent()
	if len(tr.content.packs) != 3 || len(tr.content.at) != 9 {
		t.Errorf("after pruneContent: %d objects, %d entries; want 3, 9", len(tr.content.packs), len(tr.content.at))
	}
	check("pruned", notGone)

	tr = copied
	check("clone", all)
}
