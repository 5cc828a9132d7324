package tests

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// assertNoPlaintext fails if any marker (a name or a content marker the test
// wrote through the mount) appears in a file name or file under dirs, or in
// any key or object of store. A file that disappears between the listing
// of its directory and its reading (a live cache's "intent.tmp" renamed
// into place, another test's control socket) is not an error: what it held
// is gone from the disk.
func assertNoPlaintext(t *testing.T, markers [][]byte, dirs []string, store remote.Store) {
	t.Helper()
	if len(markers) == 0 {
		t.Fatal("no markers to scan for: the test wrote nothing?")
	}
	find := newMarkerFinder(t, markers)
	check := func(where string, data []byte) {
		for _, m := range find.in(data) {
			t.Errorf("plaintext %q found in %s", m, where)
		}
	}
	scanned, vanished := 0, 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					vanished++
					return nil
				}
				return err
			}
			check("local path "+p, []byte(p))
			if d.Type().IsRegular() {
				data, err := os.ReadFile(p)
				if errors.Is(err, fs.ErrNotExist) {
					vanished++
					return nil
				}
				if err != nil {
					return err
				}
				check("local file "+p, data)
				scanned++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("scanning %s: %v", dir, err)
		}
	}
	if store == nil {
		return
	}
	ctx := context.Background()
	objects := 0
	err := store.List(ctx, "", func(o remote.ObjectInfo) error {
		check("object key "+o.Key, []byte(o.Key))
		data, _, err := store.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		check("object "+o.Key, data)
		objects++
		return nil
	})
	if err != nil {
		t.Fatalf("scanning store: %v", err)
	}
	if objects == 0 {
		t.Fatal("the store holds no objects: nothing was uploaded?")
	}
	t.Logf("plaintext scan: %d markers, %d local files (%d vanished meanwhile), %d objects: clean", len(markers), scanned, vanished, objects)
}

// markerFinder finds every marker of a set in one pass over the data:
// the markers share a prefix, and each place the prefix occurs is looked
// up in a set of the markers, once per marker length. (A bytes.Contains
// per marker took over a minute for the journey's ~1,000 markers and
// 200 MB of cache and bucket.)
type markerFinder struct {
	prefix []byte
	lens   []int
	set    map[string]bool
}

func newMarkerFinder(t *testing.T, markers [][]byte) *markerFinder {
	t.Helper()
	f := &markerFinder{prefix: markers[0], set: map[string]bool{}}
	for _, m := range markers {
		n := 0
		for n < len(f.prefix) && n < len(m) && f.prefix[n] == m[n] {
			n++
		}
		f.prefix = f.prefix[:n]
		f.set[string(m)] = true
		if !slices.Contains(f.lens, len(m)) {
			f.lens = append(f.lens, len(m))
		}
	}
	if len(f.prefix) < 4 {
		t.Fatalf("the markers share the prefix %q: too short to search for", f.prefix)
	}
	return f
}

// in returns the markers found in data, in order, with repeats.
func (f *markerFinder) in(data []byte) []string {
	var found []string
	for i := 0; ; i++ {
		j := bytes.Index(data[i:], f.prefix)
		if j < 0 {
			return found
		}
		i += j
		for _, n := range f.lens {
			if i+n <= len(data) && f.set[string(data[i:i+n])] {
				found = append(found, string(data[i:i+n]))
			}
		}
	}
}

// TestMarkerFinder: the finder sees what a bytes.Contains per marker sees.
func TestMarkerFinder(t *testing.T) {
	t.Parallel()
	markers := [][]byte{[]byte("sealfsname0001"), []byte("sealfscontent000002"), []byte("sealfsname0003")}
	f := newMarkerFinder(t, markers)
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"empty", "", nil},
		{"prefix only", "xx sealfs sealfsname000 sealfsnam", nil},
		{"whole data", "sealfsname0001", []string{"sealfsname0001"}},
		{"at the end", "abc sealfscontent000002", []string{"sealfscontent000002"}},
		{"after a false start", "sealfssealfsname0003!", []string{"sealfsname0003"}},
		{"two, adjacent", "sealfsname0001sealfsname0003", []string{"sealfsname0001", "sealfsname0003"}},
		{"one byte short", "sealfscontent00000", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.in([]byte(tc.data))
			if !slices.Equal(got, tc.want) {
				t.Errorf("in(%q) = %q, want %q", tc.data, got, tc.want)
			}
			for _, m := range markers {
				if bytes.Contains([]byte(tc.data), m) != slices.Contains(got, string(m)) {
					t.Errorf("in(%q) disagrees with bytes.Contains on %q", tc.data, m)
				}
			}
		})
	}
}
