package vault

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// TestFolderReadAhead: a reader of a folder's files in listing order (cp
// -a, tar) finds each next file fetched while it read the ones before, and
// nothing is fetched twice; a reader in another order starts no fetch of
// files it did not ask for.
func TestFolderReadAhead(t *testing.T) {
	const chunk, files = 256 << 10, 12
	store := &countingStore{Store: remote.NewMemory()}
	tv := newVault(t, store, chunk)
	w := tv.open(t)
	want := map[string][]byte{}
	for i := range files {
		name := fmt.Sprintf("f%02d", i)
		want[name] = pattern(byte(i), chunk/2+i*1000) // not packed: an object each
		ok(t, w.writeFile("d/"+name, want[name]))
	}
	w.close(t)

	// read reads file name of folder d whole, in 128 KiB reads, through a
	// description opened by that name, as the FUSE front door opens it.
	read := func(t *testing.T, v *opened, name string) {
		t.Helper()
		dir, err := v.lookupPath("d")
		ok(t, err)
		in, err := v.Lookup(dir.Ino, name)
		ok(t, err)
		f, err := v.OpenFile(in.Ino, syscall.O_RDONLY)
		ok(t, err)
		defer f.Release()
		f.Named(dir.Ino, name)
		var got []byte
		buf := make([]byte, 128<<10)
		for {
			n, err := f.ReadAt(context.Background(), buf, int64(len(got)))
			ok(t, err)
			if n == 0 {
				break
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, want[name]) {
			t.Fatalf("%s: read %d bytes, not the %d written", name, len(got), len(want[name]))
		}
	}
	list := func(t *testing.T, v *opened) {
		dir, err := v.lookupPath("d")
		ok(t, err)
		_, err = v.DirNames(dir.Ino) // cp -a lists the folder first
		ok(t, err)
	}

	t.Run("in listing order", func(t *testing.T) {
		rd := tv.readOnly(t)
		list(t, rd)
		store.gets.Store(0)
		read(t, rd, "f00")
		rd.bgReads.Wait()
		// The next files whose first chunks fit half the read-ahead window.
		ahead, budget := 0, rd.maxReadAhead()/2
		for i := 1; i <= folderAheadFiles; i++ {
			if budget -= int64(len(want[fmt.Sprintf("f%02d", i)])); budget < 0 {
				break
			}
			ahead++
		}
		if ahead < 2 {
			t.Fatalf("the read-ahead budget (%d bytes) holds %d files: the test needs files that fit", rd.maxReadAhead()/2, ahead)
		}
		if n := store.gets.Load(); n != int64(1+ahead) {
			t.Fatalf("reading the folder's first file made %d range requests, want %d: its own and the next %d files'", n, 1+ahead, ahead)
		}
		before := store.gets.Load()
		read(t, rd, "f01")
		rd.bgReads.Wait()
		if n := store.gets.Load() - before; n != 1 {
			t.Errorf("reading the next file made %d range requests, want 1 (none for itself, fetched ahead; one for the next file that now fits)", n)
		}
		for i := 2; i < files; i++ {
			read(t, rd, fmt.Sprintf("f%02d", i))
		}
		rd.bgReads.Wait()
		if n := store.gets.Load(); n != files {
			t.Errorf("%d range requests for %d one-object files read in listing order, want %d: each object once", n, files, files)
		}
	})

	t.Run("another order", func(t *testing.T) {
		rd := tv.readOnly(t)
		list(t, rd)
		store.gets.Store(0)
		for _, name := range []string{"f05", "f02", "f09", "f04"} {
			read(t, rd, name)
		}
		rd.bgReads.Wait()
		if n := store.gets.Load(); n != 4 {
			t.Errorf("%d range requests for 4 files read out of listing order, want 4: nothing fetched that was not asked for", n)
		}
	})
}
