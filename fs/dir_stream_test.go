package fs

import (
	"fmt"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// TestReaddirStreams: a listing pages through the folder (dir_stream.go)
// and still answers as a listing must. A folder of 1,000 files (four
// pages) lists whole and sorted; a listing that runs while files are
// removed and added returns every file that stays exactly once, and no
// file after it was removed; rewinddir (lseek to 0) starts a fresh
// listing that shows the folder as it is now. The kernel keeps a folder
// it listed whole (node_dir.go, FOPEN_CACHE_DIR) until it changes; a
// listing it serves from that copy returns every file that stays once,
// may return one removed since it began (POSIX leaves it open), and
// shows the folder as it is after rewinddir.
func TestReaddirStreams(t *testing.T) {
	mt := newVault(t, remote.NewMemory(), testChunk).mount(t)
	dir := mt.path("media")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 1000 {
		name := fmt.Sprintf("IMG-%04d.jpg", i)
		if err := os.WriteFile(dir+"/"+name, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listing of 1,000 files: %d names, first %q; want the 1,000 sorted", len(got), got[:min(3, len(got))])
	}

	// The kernel lists a changed folder from sealfs again: this listing
	// is sealfs's stream, not the copy of the listing above.
	if err := os.WriteFile(dir+"/changed", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir + "/changed"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Remove every tenth file, listed or not; add names that sort first,
	// last and in between.
	removed := map[string]bool{}
	seen := listAround(t, f, 300, func() {
		for i := 0; i < 1000; i += 10 {
			if err := os.Remove(dir + "/" + want[i]); err != nil {
				t.Fatal(err)
			}
			removed[want[i]] = true
		}
		for _, name := range []string{"AAA.jpg", "IMG-0500a.jpg", "ZZZ.jpg"} {
			if err := os.WriteFile(dir+"/"+name, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	for i, name := range want {
		switch {
		case seen[name] > 1:
			t.Errorf("%s listed %d times", name, seen[name])
		case seen[name] == 0 && !removed[name]:
			t.Errorf("%s was there all along but not listed", name)
		}
		if removed[name] && i >= 800 && seen[name] > 0 {
			// Removed long before the listing reached it. Names up to
			// about 510 were already read ahead (Go's 8 KiB getdents
			// buffer past the 300 read, and this stream's 256-name
			// page); a listing built whole at open lists them all.
			t.Errorf("%s listed after it was removed", name)
		}
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	again, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	var now []string
	for _, name := range want {
		if !removed[name] {
			now = append(now, name)
		}
	}
	now = append(now, "AAA.jpg", "IMG-0500a.jpg", "ZZZ.jpg")
	slices.Sort(now)
	if !slices.Equal(again, now) {
		t.Errorf("after rewinddir: %d names; want the folder as it is now, %d names (%v...)", len(again), len(now), again[:min(3, len(again))])
	}
	cachedListing(t, dir, now)
}

// cachedListing checks a listing the kernel serves from its copy of dir
// (listed whole just before, unchanged since), which holds names: a file
// removed while it runs does not make it skip or repeat the others, and
// rewinddir shows the folder without it, and with a file added.
func cachedListing(t *testing.T, dir string, names []string) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gone := names[len(names)-2]
	seen := listAround(t, f, 100, func() {
		if err := os.Remove(dir + "/" + gone); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/~new.jpg", nil, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	for _, name := range names {
		if seen[name] != 1 && (name != gone || seen[name] > 1) {
			t.Errorf("kernel's copy: %s listed %d times", name, seen[name])
		}
	}
	if seen["~new.jpg"] > 1 {
		t.Errorf("kernel's copy: a file added while it ran listed %d times", seen["~new.jpg"])
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	again, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	// The stream sealfs opened with the directory was never read (the
	// kernel served its copy): it must list the folder as it is now, with
	// the new file (seen failing with the names taken at opendir).
	want := append(slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == gone }), "~new.jpg")
	if !slices.Equal(again, want) {
		t.Errorf("kernel's copy, after rewinddir: %d names; want the folder as it is now, %d names", len(again), len(want))
	}
}

// listAround reads n names of open directory f, runs change, reads the
// rest, and returns how many times each name was listed.
func listAround(t *testing.T, f *os.File, n int, change func()) map[string]int {
	t.Helper()
	first, err := f.Readdirnames(n)
	if err != nil {
		t.Fatal(err)
	}
	change()
	rest, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, name := range append(first, rest...) {
		seen[name]++
	}
	return seen
}
