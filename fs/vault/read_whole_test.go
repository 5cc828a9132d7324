package vault

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// TestColdReadFromStartOneGet: a file read cold from its start in small
// sequential reads (cp, tar, a gallery through the page cache) gets its
// first chunk with one range request, not one per read-ahead step, and
// reads right.
func TestColdReadFromStartOneGet(t *testing.T) {
	const chunk = 4 << 20
	for _, size := range []int{chunk/16 + 1, 1<<20 + 1, chunk - 1, chunk} {
		t.Run(fmt.Sprintf("len=%d", size), func(t *testing.T) {
			store := &countingStore{Store: remote.NewMemory()}
			tv := newVault(t, store, chunk)
			data := pattern(byte(size), size)
			w := tv.open(t)
			ok(t, w.writeFile("f", data))
			w.close(t)
			rd := tv.open(t, func(o *Options) { o.ReadOnly = true })
			in, err := rd.lookupPath("f")
			ok(t, err)
			f, err := rd.OpenFile(in.Ino, syscall.O_RDONLY)
			ok(t, err)
			defer f.Release()
			store.gets.Store(0)
			got := make([]byte, 0, len(data))
			buf := make([]byte, 128<<10)
			for {
				n, err := f.ReadAt(context.Background(), buf, int64(len(got)))
				ok(t, err)
				got = append(got, buf[:n]...)
				if n == 0 {
					break
				}
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, not the %d written", len(got), len(data))
			}
			if n := store.gets.Load(); n != 1 {
				t.Errorf("%d range requests for a file of one chunk read from its start, want 1", n)
			}
		})
	}
}
