package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

func openTestObject(t testing.TB, size int) (*crypt.Keys, crypt.ObjectID, []byte, []byte) {
	t.Helper()
	var master crypt.Key
	master[0] = 7
	k := crypt.DeriveKeys(master, crypt.SuiteAES256GCM, crypt.DefaultChunkSize)
	var id crypt.ObjectID
	id[0] = 1
	plain := pattern(3, size)
	sealed, err := crypt.SealObject(k, id, plain)
	if err != nil {
		t.Fatal(err)
	}
	return k, id, plain, sealed
}

// TestReadOpen: every span of a multi-segment object (with a short last
// segment) reads and opens to the right plaintext, each segment over its
// own ciphertext in the buffer; a flipped bit anywhere in the span, a
// shorter object or a body cut short is an error with the buffer wiped
// (ErrAuth for the first two, transient for the cut).
func TestReadOpen(t *testing.T) {
	size := 9*crypt.SegmentSize + 1000
	k, id, plain, sealed := openTestObject(t, size)
	ctx := context.Background()
	store := faults.New(remote.NewMemory())
	key := layout.DataKey(id)
	put := func(b []byte) {
		if _, err := store.Store.Put(ctx, key, b, remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(sealed)
	op, err := crypt.NewSegmentOpener(k, id, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, 1}, {0, int64(size)}, {crypt.SegmentSize - 1, 2}, {3 * crypt.SegmentSize, int64(size)}, {int64(size) - 1, 1}} {
		off, n := r[0], min(r[1], int64(size)-r[0])
		cOff, cLen, first := crypt.SegmentSpan(int64(size), off, n)
		buf := make([]byte, cLen)
		segs, err := readOpen(ctx, store, op, id, cOff, first, inBlocks(buf), nil)
		if err != nil {
			t.Fatalf("span %v: %v", r, err)
		}
		for i, s := range segs {
			if &s[0] != &buf[i*cipherSeg] {
				t.Fatalf("span %v: segment %d is not at its ciphertext", r, i)
			}
		}
		got := bytes.Join(segs, nil)
		start := first * crypt.SegmentSize
		if !bytes.Equal(got, plain[start:start+int64(len(got))]) || int64(len(got)) < off+n-start {
			t.Fatalf("span %v: wrong plaintext (%d bytes from %d)", r, len(got), start)
		}
	}
	cOff, cLen, first := crypt.SegmentSpan(int64(size), 0, int64(size))
	wiped := func(what string, buf []byte, err error, auth bool) {
		t.Helper()
		if err == nil || errors.Is(err, crypt.ErrAuth) != auth || remote.IsTransient(err) == auth {
			t.Fatalf("%s: %v (want ErrAuth: %v, else transient)", what, err, auth)
		}
		if !bytes.Equal(buf, make([]byte, len(buf))) {
			t.Fatalf("%s: buffer not wiped", what)
		}
	}
	for _, flip := range []int64{0, crypt.SegmentSize + 20, 6*cipherSeg + 5, cLen - 1} {
		bad := bytes.Clone(sealed)
		bad[cOff+flip] ^= 1
		put(bad)
		buf := make([]byte, cLen)
		_, err := readOpen(ctx, store, op, id, cOff, first, inBlocks(buf), nil)
		wiped(fmt.Sprintf("flip at %d", flip), buf, err, true)
	}
	put(sealed[:len(sealed)-crypt.SegmentOverhead])
	buf := make([]byte, cLen)
	_, err = readOpen(ctx, store, op, id, cOff, first, inBlocks(buf), nil)
	wiped("object cut short", buf, err, true)
	put(sealed)
	store.Inject(faults.GetRange, faults.Truncate(int(cLen-1)).Times(1))
	// The faults store's truncation reports the shorter count: ErrAuth.
	_, err = readOpen(ctx, store, op, id, cOff, first, inBlocks(buf), nil)
	wiped("truncated", buf, err, true)
	cut := &cutStore{Store: store, at: 6*cipherSeg + 100}
	_, err = readOpen(ctx, cut, op, id, cOff, first, inBlocks(buf), nil)
	wiped("body cut short after 6 segments", buf, err, false)
}

// cutStore's OpenRange bodies end after at bytes, while their count
// promises more.
type cutStore struct {
	remote.Store
	at int64
}

func (s *cutStore) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	rc, size, err := s.Store.OpenRange(ctx, key, off, n)
	if err != nil {
		return nil, 0, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, s.at), rc}, size, nil
}

// BenchmarkOpenChunk compares opening a whole 4 MiB chunk into a fresh
// buffer (crypt.OpenSegments) with opening it in place.
func BenchmarkOpenChunk(b *testing.B) {
	size := crypt.DefaultChunkSize
	k, id, _, sealed := openTestObject(b, size)
	ct := sealed[crypt.ObjectHeaderSize:]
	buf := make([]byte, len(ct))
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := crypt.OpenSegments(k, id, int64(size), 0, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("in-place", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			copy(buf, ct) // stands in for the store's response buffer
			if _, err := crypt.OpenSegmentsInPlace(k, id, int64(size), 0, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read-open", func(b *testing.B) {
		store := remote.NewMemory()
		if _, err := store.Put(context.Background(), layout.DataKey(id), sealed, remote.PutOptions{}); err != nil {
			b.Fatal(err)
		}
		op, _ := crypt.NewSegmentOpener(k, id, int64(size))
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := readOpen(context.Background(), store, op, id, crypt.ObjectHeaderSize, 0, inBlocks(buf), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCopyChunk(b *testing.B) {
	ct := make([]byte, crypt.ObjectCipherSize(crypt.DefaultChunkSize))
	buf := make([]byte, len(ct))
	b.SetBytes(int64(len(ct)))
	for b.Loop() {
		copy(buf, ct)
	}
}

// inBlocks splits buf into blocks as segCache.getBuf lays out a buffer of
// its size, each a slice of buf.
func inBlocks(buf []byte) [][]byte {
	var out [][]byte
	for lo := 0; lo < len(buf); lo += openPiece {
		hi := min(lo+openPiece, len(buf))
		out = append(out, buf[lo:hi:hi])
	}
	return out
}
