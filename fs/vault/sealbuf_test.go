package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// holdingStore keeps the promise that lets uploads seal into pooled
// buffers (putDoneOnReturn: it is done with a Put's data when the Put
// returns) and checks that the vault keeps its side: the data of a put of
// a data object stays unchanged until that put returns. The first slow
// such puts wait hold before storing, far past Tuning.StageAfter, so the
// vault stages them and goes on sealing other objects meanwhile; a buffer
// given back to the pool before the put returned is sealed into again and
// the put sees other bytes (and -race sees the write).
type holdingStore struct {
	remote.Store
	slow atomic.Int32
	hold time.Duration

	mu      sync.Mutex
	changed []string         // keys whose data changed during their put
	bufs    map[*byte]string // first byte of each data buffer put: its key
	reused  int              // puts of a buffer an earlier put had
}

func (s *holdingStore) putDoneOnReturn() bool { return true }

func (s *holdingStore) Put(ctx context.Context, key string, data []byte, opts remote.PutOptions) (string, error) {
	if !strings.HasPrefix(key, "data/") || len(data) == 0 {
		return s.Store.Put(ctx, key, data, opts)
	}
	want := bytes.Clone(data)
	s.mu.Lock()
	if _, ok := s.bufs[&data[0]]; ok {
		s.reused++
	}
	s.bufs[&data[0]] = key
	s.mu.Unlock()
	if s.slow.Add(-1) >= 0 {
		time.Sleep(s.hold)
	}
	etag, err := s.Store.Put(ctx, key, data, opts)
	if !bytes.Equal(data, want) {
		s.mu.Lock()
		s.changed = append(s.changed, key)
		s.mu.Unlock()
	}
	return etag, err
}

// TestSealBufferNotReusedDuringPut: a put that outlives StageAfter (its
// object staged, its version done) still reads its sealed buffer; the
// buffer goes back to the pool only when the put returns. Many full
// chunks are written meanwhile, so an early return would be sealed into.
func TestSealBufferNotReusedDuringPut(t *testing.T) {
	hs := &holdingStore{Store: remote.NewMemory(), hold: 300 * time.Millisecond, bufs: map[*byte]string{}}
	hs.slow.Store(3)
	tv := newVault(t, hs, testChunk)
	v := tv.open(t, func(o *Options) {
		o.Uploads = 8
		o.Tuning.StageAfter = time.Millisecond
	})
	files := map[string][]byte{}
	for i := range 24 {
		files[fmt.Sprintf("f%d", i)] = pattern(byte(i+1), 3*testChunk)
	}
	writeFiles(t, v.Vault, files)
	ok(t, v.Sync(context.Background()))
	v.close(t)
	hs.mu.Lock()
	changed, reused := hs.changed, hs.reused
	hs.mu.Unlock()
	if len(changed) > 0 {
		t.Errorf("%d puts saw their data change before they returned (sealed buffer reused too early): %v", len(changed), changed)
	}
	if reused == 0 {
		t.Error("no sealed buffer was used twice: the test did not exercise the pool")
	}
	if v := hs.slow.Load(); v >= 0 {
		t.Errorf("only %d slow puts happened", 3-v)
	}
	wantFiles(t, tv.readOnly(t).Vault, files)
}

// Only chains of stores known to be done with a Put's data when it
// returns seal into pooled buffers; S3 and anything unknown do not.
func TestPutDoneOnReturn(t *testing.T) {
	dir, err := remote.NewDir(t.TempDir())
	ok(t, err)
	mem := remote.NewMemory()
	retry := func(s remote.Store) remote.Store { return remote.WithRetry(s, remote.RetryOptions{}) }
	for _, c := range []struct {
		name string
		s    remote.Store
		want bool
	}{
		{"dir", dir, true},
		{"memory", mem, true},
		{"staged retry logging dir", &stagedStore{Store: retry(remote.WithLogging(dir, nil))}, true},
		{"retry single-writer memory", retry(remote.WithSingleWriter(mem)), true},
		{"s3", &remote.S3{}, true},
		{"retry s3", retry(&remote.S3{}), true},
		{"faults memory", faults.New(mem), false},
		{"retry faults memory", retry(faults.New(mem)), false},
	} {
		if got := putDoneOnReturn(c.s); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// BenchmarkUploadChunks writes 32 MiB of new full chunks (4 MiB) through
// the engine and syncs, into a directory store on tmpfs where there is
// one: each chunk is sealed and stored once. B/op shows the sealed
// buffers.
func BenchmarkUploadChunks(b *testing.B) {
	dir := b.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "sealfs-bench"); err == nil {
			dir = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	store, err := remote.NewDir(dir)
	ok(b, err)
	tv := newVault(b, store, crypt.DefaultChunkSize)
	v := tv.open(b)
	const size, chunk, write = 32 << 20, crypt.DefaultChunkSize, 1 << 20
	data := pattern(7, size)
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for off := 0; off < size; off += chunk {
			binary.LittleEndian.PutUint64(data[off:], uint64(i)) // new content: no dedup
		}
		f, err := v.create(fmt.Sprint("f", i))
		ok(b, err)
		for off := 0; off < size; off += write {
			_, err := f.WriteAt(ctx, data[off:off+write], int64(off))
			ok(b, err)
		}
		ok(b, f.Flush())
		f.Release()
		ok(b, v.Sync(ctx))
		i++
	}
}
