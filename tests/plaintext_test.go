package tests

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// assertNoPlaintext fails if any marker (a name or a content marker the test
// wrote through the mount) appears in a file name or file under dirs, or in
// any key or object of store.
func assertNoPlaintext(t *testing.T, markers [][]byte, dirs []string, store remote.Store) {
	t.Helper()
	if len(markers) == 0 {
		t.Fatal("no markers to scan for: the test wrote nothing?")
	}
	check := func(where string, data []byte) {
		for _, m := range markers {
			if bytes.Contains(data, m) {
				t.Errorf("plaintext %q found in %s", m, where)
			}
		}
	}
	scanned := 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			check("local path "+p, []byte(p))
			if d.Type().IsRegular() {
				data, err := os.ReadFile(p)
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
	t.Logf("plaintext scan: %d markers, %d local files, %d objects: clean", len(markers), scanned, objects)
}
