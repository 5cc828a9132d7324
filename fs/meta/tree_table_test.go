package meta

import (
	"context"
	"slices"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// TestTreeChurn drives the compact layout through its compactions (dead
// inodes, moved extent lists, removed names) at sizes past their
// thresholds, and checks every file's extents, the invariants, the
// listing and a reload after each phase.
func TestTreeChurn(t *testing.T) {
	tr := NewTree(testChunk, 0, 0, 1)
	d := must(t)(tr.Mkdir(RootIno, "d", 0o755, 0, 0, 1)).Ino
	want := map[string][]Extent{} // name -> extents
	ino := map[string]Ino{}
	setData := func(name string, chunks int, seed int) {
		t.Helper()
		sets := map[int64]Extent{}
		var ext []Extent
		for i := range chunks {
			id := [16]byte{byte(seed), byte(seed >> 8), byte(i), 0x5a}
			e := Extent{Object: id, ObjectSize: testChunk, Length: testChunk}
			sets[int64(i)] = e
			ext = append(ext, e)
		}
		if err := tr.SetFileData(ino[name], uint64(chunks*testChunk), sets, 2); err != nil {
			t.Fatal(err)
		}
		want[name] = ext
	}
	check := func(phase string) {
		t.Helper()
		checkInvariants(t, tr)
		ents, err := tr.ReadDir(d)
		if err != nil || len(ents) != len(want) {
			t.Fatalf("%s: ReadDir %d entries, %v; want %d", phase, len(ents), err, len(want))
		}
		for i, e := range ents {
			if i > 0 && ents[i-1].Name >= e.Name || e.Ino != ino[e.Name] {
				t.Fatalf("%s: entry %d %+v", phase, i, e)
			}
			got, err := tr.Lookup(d, e.Name)
			if err != nil || !slices.Equal(got.Extents, want[e.Name]) {
				t.Fatalf("%s: %q extents %v, %v; want %v", phase, e.Name, got.Extents, err, want[e.Name])
			}
		}
		s := remote.NewMemory()
		if _, err := Create(context.Background(), s, testKeys(), tr, LogOptions{}); err != nil {
			t.Fatal(err)
		}
		loaded, _ := reopen(t, s)
		sameTree(t, tr, loaded)
	}
	for i := range 3000 {
		name := "f" + itoa(i)
		ino[name] = must(t)(tr.Create(d, name, 0o644, 0, 0, 2)).Ino
		setData(name, 1+i%3, i)
	}
	check("created")
	for i := range 3000 {
		if i%3 == 0 {
			continue
		}
		name := "f" + itoa(i)
		if _, err := tr.Unlink(d, name, 3); err != nil {
			t.Fatal(err)
		}
		tr.Release(ino[name])
		delete(want, name)
		delete(ino, name)
	}
	check("two thirds removed")
	for i := range 2000 { // new numbers, in order: the dead are compacted away, the order kept
		name := "g" + itoa(100000+i)
		ino[name] = must(t)(tr.Create(d, name, 0o644, 0, 0, 4)).Ino
		setData(name, 1, 10000+i)
	}
	if tr.ins.dead > 1024 {
		t.Errorf("%d dead inodes kept", tr.ins.dead)
	}
	check("created again")
	for round := 2; round <= 6; round++ { // lists that grow move
		for i := range 2000 {
			name := "g" + itoa(100000+i)
			setData(name, round, 20000*round+i)
		}
	}
	if tr.ins.extDead > len(tr.ins.ext)/2+1024 {
		t.Errorf("%d of %d extents dead", tr.ins.extDead, len(tr.ins.ext))
	}
	check("grown")
	for i := range 2000 { // shrink and rename: in place, new names
		name, to := "g"+itoa(100000+i), "h"+itoa(i)
		setData(name, 1, 30000+i)
		if _, err := tr.Rename(d, name, d, to, 0, 5); err != nil {
			t.Fatal(err)
		}
		want[to], ino[to] = want[name], ino[name]
		delete(want, name)
		delete(ino, name)
	}
	check("renamed")
}
