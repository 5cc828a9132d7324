package fs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// TestTailPadding: the bucket does not show exact file sizes. Sixty-four
// small files of distinct sizes are stored in objects of only a few
// distinct sizes (the plaintext is zero-padded to its Padmé size inside
// the seal), and every file still reads back with its exact size and bytes.
func TestTailPadding(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	mt := v.mount(t)
	want := map[string][]byte{}
	for i := range 64 {
		name := fmt.Sprintf("voice-%02d.opus", i)
		want[name] = pattern(byte(i+1), 40000+i*97)
		ok(t, os.WriteFile(mt.path(name), want[name], 0o644))
	}
	mt.unmount(t)

	sizes := map[int64]int{}
	err := v.store.List(context.Background(), "data/", func(o remote.ObjectInfo) error {
		sizes[o.Size]++
		return nil
	})
	ok(t, err)
	var n int
	for _, c := range sizes {
		n += c
	}
	if n != len(want) {
		t.Fatalf("%d data objects for %d files", n, len(want))
	}
	if len(sizes) > 4 {
		t.Errorf("64 files of distinct sizes are stored in objects of %d distinct sizes: the bucket shows file sizes", len(sizes))
	}

	mt2 := v.mount(t)
	for name, data := range want {
		got, err := os.ReadFile(mt2.path(name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
		st, err := os.Stat(mt2.path(name))
		if err != nil || st.Size() != int64(len(data)) {
			t.Errorf("%s: size %v, %v; want %d", name, st.Size(), err, len(data))
		}
	}
	if strings.Contains(fmt.Sprint(sizes), "40000") {
		t.Errorf("an object has a file's exact size: %v", sizes)
	}
}
