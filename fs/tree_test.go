package fs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// entry is what a user sees of one path: compared before unmount and after
// a remount elsewhere.
type entry struct {
	Mode   fs.FileMode
	Size   int64
	Mtime  int64 // ns
	Ino    uint64
	Nlink  uint64
	Uid    uint32
	Target string
	Sum    [32]byte // content digest
}

func (e entry) String() string {
	return fmt.Sprintf("{%v size=%d mtime=%d ino=%d nlink=%d uid=%d target=%q sum=%x}",
		e.Mode, e.Size, e.Mtime, e.Ino, e.Nlink, e.Uid, e.Target, e.Sum[:4])
}

// snapshotTree walks dir and records every entry.
func snapshotTree(t testing.TB, dir string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		e := entry{Mode: fs.FileMode(st.Mode), Size: st.Size, Mtime: st.Mtim.Nano(),
			Ino: st.Ino, Nlink: st.Nlink, Uid: st.Uid}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			e.Target, err = os.Readlink(p)
		case syscall.S_IFREG:
			var data []byte
			data, err = os.ReadFile(p)
			e.Sum = sha256.Sum256(data)
		case syscall.S_IFDIR:
			e.Size = 0 // directory sizes are not part of the contract
		}
		out[rel] = e
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

// diffTrees describes the differences between two snapshots ("" if none).
func diffTrees(want, got map[string]entry) string {
	var b strings.Builder
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !gok:
			fmt.Fprintf(&b, "missing %q (want %v)\n", k, w)
		case !wok:
			fmt.Fprintf(&b, "extra %q: %v\n", k, g)
		case w != g:
			fmt.Fprintf(&b, "%q: got %v, want %v\n", k, g, w)
		}
	}
	return b.String()
}

// readFile reads p and fails the test on error.
func readFile(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return data
}

func wantContent(t testing.TB, p string, want []byte) {
	t.Helper()
	got := readFile(t, p)
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: %d bytes, want %d; first difference at offset %d", p, len(got), len(want), i)
	}
}
