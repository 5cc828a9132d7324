package meta

import (
	"context"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// BenchmarkCommit measures one commit of a batch of 1,000 file creations
// (each with one extent) into a memory store: encode, compress, seal, put,
// head swap. The tree ops themselves are outside the timer.
func BenchmarkCommit(b *testing.B) {
	ctx := context.Background()
	s := remote.NewMemory()
	tr := NewTree(testChunk, 0, 0, 1)
	l, err := Create(ctx, s, testKeys(), tr, LogOptions{SnapshotEvery: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	// A big snapshot first, so that every commit below is a journal batch.
	dir := fill(b, tr, RootIno, 20_000)
	if _, err := l.Snapshot(ctx, tr); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		b.StopTimer()
		d := must(b)(tr.Mkdir(dir, "d"+itoa(n), 0o755, 0, 0, 2)).Ino
		fill(b, tr, d, 1000)
		n++
		b.StartTimer()
		if _, err := l.Commit(ctx, tr); err != nil {
			b.Fatal(err)
		}
		if l.Head().Batches == 0 {
			b.Fatal("commit wrote a snapshot")
		}
	}
	b.ReportMetric(float64(l.sizeFrom(0))/float64(l.Head().Batches), "sealed-bytes/batch")
}

// fill creates n files with one 1 KiB extent each in a new directory of
// parent and returns the directory.
func fill(tb testing.TB, tr *Tree, parent Ino, n int) Ino {
	d := must(tb)(tr.Mkdir(parent, "fill-"+itoa(int(tr.next)), 0o755, 0, 0, 2)).Ino
	for i := range n {
		f := must(tb)(tr.Create(d, "IMG-20240101-WA"+itoa(100000+i)+".jpg", 0o644, 1000, 1000, int64(i)))
		id := [16]byte{byte(i), byte(i >> 8), byte(i >> 16), 0xaa}
		e := Extent{Object: id, ObjectSize: 1000, Length: 1000}
		if err := tr.SetFileData(f.Ino, 1000, map[int64]Extent{0: e}, int64(i)); err != nil {
			tb.Fatal(err)
		}
	}
	return d
}

// BenchmarkOpen100k measures Open of a vault whose snapshot holds 100,000
// files (one extent each) in 100 directories.
func BenchmarkOpen100k(b *testing.B) {
	ctx := context.Background()
	s := remote.NewMemory()
	tr := NewTree(testChunk, 0, 0, 1)
	for range 100 {
		fill(b, tr, RootIno, 1000)
	}
	l, err := Create(ctx, s, testKeys(), tr, LogOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, _, err := Open(ctx, s, testKeys(), LogOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if files, _, _ := got.Stats(); files != 100_000 {
			b.Fatalf("%d files", files)
		}
	}
	b.ReportMetric(float64(l.snapBytes), "snapshot-bytes")
}

// BenchmarkEncodeSnapshot100k measures the part of a snapshot that holds
// the tree lock (file system calls wait meanwhile).
func BenchmarkEncodeSnapshot100k(b *testing.B) {
	tr := NewTree(testChunk, 0, 0, 1)
	for range 100 {
		fill(b, tr, RootIno, 1000)
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.mu.Lock()
		tr.encodeSnapshotLocked(1, crypt.SuiteAES256GCM)
		tr.mu.Unlock()
	}
}

// BenchmarkSnapshot100k measures writing a full snapshot of 100,000 files.
func BenchmarkSnapshot100k(b *testing.B) {
	ctx := context.Background()
	s := remote.NewMemory()
	tr := NewTree(testChunk, 0, 0, 1)
	for range 100 {
		fill(b, tr, RootIno, 1000)
	}
	l, err := Create(ctx, s, testKeys(), tr, LogOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Snapshot(ctx, tr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeOps measures the calls a mount makes per entry on a tree
// of 100 folders of 1,000 files: a lookup by name, getattr by number, a
// whole listing of one folder (names, then entries), and creating 1,000
// files with data.
func BenchmarkTreeOps(b *testing.B) {
	tr := NewTree(testChunk, 0, 0, 1)
	var dirs []Ino
	for range 100 {
		dirs = append(dirs, fill(b, tr, RootIno, 1000))
	}
	tr.takePending()
	b.Run("Lookup", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := tr.Lookup(dirs[i%100], "IMG-20240101-WA"+itoa(100000+i%1000)+".jpg"); err != nil {
				b.Fatal(err)
			}
			i += 7
		}
	})
	b.Run("GetAttr", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tr.GetAttr(Ino(2 + i%100000))
			i += 7919
		}
	})
	b.Run("List1000", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			names, _ := tr.DirNames(dirs[i%100])
			if len(tr.DirEntries(dirs[i%100], names)) != 1000 {
				b.Fatal("short")
			}
			i++
		}
	})
	b.Run("CreateSetData", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fill(b, tr, RootIno, 1000)
			tr.takePending()
		}
	})
}
