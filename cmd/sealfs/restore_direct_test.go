package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/fs/meta"
)

// TestRestoreDirectWrites writes a file of three chunks the way restore
// does, each part in pieces that cross the stage's blocks: the first
// chunk stored without its trailing zeros (its padding lands inside the
// file), the last one short (its padding lands past the end). With direct
// writes, with a file system that refuses them from the start, and with
// one that refuses them after the first block, the file comes back byte
// for byte, of its size, and every byte is counted once.
func TestRestoreDirectWrites(t *testing.T) {
	const chunk = 4 << 20
	size := 2*chunk + 12345
	want := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{7})
	rng.Read(want)
	clear(want[chunk-5000 : chunk])
	type piece struct{ off, end int }
	parts := []piece{{0, chunk - 5000}, {chunk, 2 * chunk}, {2 * chunk, size}}

	real := directWrite
	defer func() { directWrite = real; directOff.Store(false) }()
	for _, tc := range []struct {
		name       string
		allow      int // direct writes that succeed before the file system refuses them (-1: all)
		wantDirect bool
	}{
		{"direct", -1, oDirect != 0},
		{"refused at once", 0, false},
		{"refused after one block", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			directOff.Store(false)
			calls := 0
			directWrite = func(f *os.File, b []byte, off int64) (int, error) {
				calls++
				if tc.allow >= 0 && calls > tc.allow {
					return 0, syscall.EINVAL
				}
				return real(f, b, off)
			}
			dir := t.TempDir()
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			rs := &restorer{root: root, dest: dir, broken: map[string]bool{}}
			f := &outFile{it: restoreItem{rel: "msgstore.db", in: meta.Inode{Attr: meta.Attr{Mode: syscall.S_IFREG | 0o600, Size: uint64(size)}}}}
			for _, p := range parts {
				var st *stage
				for at := p.off; at < p.end; at += 70000 {
					hi := min(at+70000, p.end)
					rs.write(f, &st, want[at:hi], int64(at), hi == p.end)
				}
				if st != nil {
					t.Fatalf("part [%d,%d): its stage is still held after its last bytes", p.off, p.end)
				}
			}
			rs.end(context.Background(), f, nil)
			if len(rs.failed)+len(rs.damaged) > 0 {
				t.Fatalf("restore failed: %v %v", rs.failed, rs.damaged)
			}
			got, err := os.ReadFile(filepath.Join(dir, "msgstore.db"))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != size || !bytes.Equal(got, want) {
				t.Fatalf("restored %d bytes, want %d; equal: %v", len(got), size, bytes.Equal(got, want))
			}
			if n := rs.stats.bytes.Load(); n != int64(size-5000) {
				t.Errorf("%d bytes counted as written, want %d", n, size-5000)
			}
			if tc.wantDirect && (calls == 0 || directOff.Load()) {
				t.Errorf("%d direct writes, direct I/O off: %v; want every part written directly", calls, directOff.Load())
			}
			if tc.allow >= 0 && oDirect != 0 && !directOff.Load() {
				t.Error("a refused direct write did not turn direct I/O off for the files after it")
			}
		})
	}
}

// TestRestoreParallel: 16 downloads at once with the default chunks,
// fewer with bigger chunks, so that their buffers stay near 64 MiB.
func TestRestoreParallel(t *testing.T) {
	for _, c := range []struct {
		chunk int64
		want  int
	}{{64 << 10, 16}, {4 << 20, 16}, {8 << 20, 8}, {16 << 20, 4}, {64 << 20, 2}} {
		if got := restoreParallel(c.chunk); got != c.want {
			t.Errorf("chunks of %d bytes: %d downloads at once, want %d", c.chunk, got, c.want)
		}
	}
}
