package diskio

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFile: the file holds exactly the new bytes, private, with no
// temporary file left; a write that cannot happen leaves the old file.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	for _, sync := range []bool{true, false} {
		data := []byte("sealed bytes")
		if sync {
			data = append(data, '!')
		}
		if err := WriteFile(p, data, sync); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != string(data) {
			t.Fatalf("read back %q, %v", got, err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
		if _, err := os.Stat(p + TempSuffix); !os.IsNotExist(err) {
			t.Errorf("temporary file left: %v", err)
		}
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), []byte("x"), true); err == nil {
		t.Error("a write into a missing directory succeeded")
	}
}
