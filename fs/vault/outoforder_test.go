package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// putCounter counts the bytes of data objects put into a store (what a
// user pays in uplink) and the reads of data objects.
type putCounter struct {
	remote.Store
	bytes atomic.Int64
	reads atomic.Int64
}

func (c *putCounter) countRead(key string) {
	if _, ok := layout.ParseDataKey(key); ok {
		c.reads.Add(1)
	}
}

func (c *putCounter) Get(ctx context.Context, key string) ([]byte, remote.ObjectInfo, error) {
	c.countRead(key)
	return c.Store.Get(ctx, key)
}

func (c *putCounter) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	c.countRead(key)
	return c.Store.GetRange(ctx, key, off, n)
}

func (c *putCounter) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	c.countRead(key)
	return c.Store.OpenRange(ctx, key, off, n)
}

func (c *putCounter) Put(ctx context.Context, key string, data []byte, opts remote.PutOptions) (string, error) {
	etag, err := c.Store.Put(ctx, key, data, opts)
	if _, ok := layout.ParseDataKey(key); ok && err == nil {
		c.bytes.Add(int64(len(data)))
	}
	return etag, err
}

// blockOrder returns the order in which a writer that preallocated a file
// of n blocks fills them.
type blockOrder func(n int, r *rand.Rand) []int

var writeOrders = []struct {
	name  string
	order blockOrder
}{
	{"sequential", func(n int, _ *rand.Rand) []int {
		o := make([]int, n)
		for i := range o {
			o[i] = i
		}
		return o
	}},
	{"random", func(n int, r *rand.Rand) []int { return r.Perm(n) }},
	// Syncthing: a puller starts its range a part of the way in, wraps
	// round, and its parallel requests land a few blocks out of order.
	{"syncthing", syncthingOrder},
	// A downloader with a connection per part: the first block of every
	// chunk, then the rest at random. Memory runs short while every
	// chunk's buffer is still small.
	{"spread", func(n int, r *rand.Rand) []int {
		const perChunk = 32 // blocks of a chunk in the tests below
		o := make([]int, 0, n)
		var rest []int
		for b := range n {
			if b%perChunk == 0 {
				o = append(o, b)
			} else {
				rest = append(rest, b)
			}
		}
		r.Shuffle(len(rest), func(a, b int) { rest[a], rest[b] = rest[b], rest[a] })
		return append(o, rest...)
	}},
}

func syncthingOrder(n int, r *rand.Rand) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = (n/3 + i) % n
	}
	const window = 16
	for i := 0; i < n; i += window {
		w := o[i:min(i+window, n)]
		r.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	}
	return o
}

// TestOutOfOrderWritesUploadOnce writes a preallocated file in 8 KiB
// pwrites (a 32nd of a chunk, as Syncthing's 128 KiB blocks are of a
// 4 MiB chunk) in several orders, with memory for the whole file and with
// memory for a quarter of it (the smallest budget): every order uploads each byte about once
// (issue 20: random order used to upload the file many times over).
func TestOutOfOrderWritesUploadOnce(t *testing.T) {
	const (
		size  = 64 * testChunk // 16 MiB: four times the smallest budget
		block = testChunk / 32
	)
	for _, s := range stores {
		for _, wo := range writeOrders {
			for _, mem := range []struct {
				name  string
				limit int64
			}{{"ample", 4 * size}, {"tight", size / 4}} {
				t.Run(s.name+"/"+wo.name+"/"+mem.name, func(t *testing.T) {
					store := &putCounter{Store: s.new(t)}
					tv := newVault(t, store, testChunk)
					v := tv.open(t, func(o *Options) { o.MemoryBudget = mem.limit })
					data := pattern(7, size)
					r := rand.New(rand.NewPCG(1, 2))
					writeInOrder(t, v.Vault, "dl/big.tmp", data, block, wo.order(size/block, r))
					v.close(t)
					if n := store.reads.Load(); n != 0 {
						t.Errorf("%d reads of data objects from the store while writing a new file, want none "+
							"(a partial chunk was uploaded and read back)", n)
					}
					if got := store.bytes.Load(); got > size*11/10 {
						t.Errorf("uploaded %d bytes for a %d-byte file (%.2f×), want at most 1.1×",
							got, size, float64(got)/size)
					}
					st := v.Stats()
					if st.MemoryPeak > st.MemoryLimit {
						t.Errorf("write memory peaked at %d bytes, over the budget of %d", st.MemoryPeak, st.MemoryLimit)
					}
					if wo.name == "random" && mem.name == "tight" && st.Parked == 0 {
						t.Errorf("random order in a quarter of the memory parked no chunk")
					}
					// Local disk: what was written since the last park,
					// not the whole chunk at every park (patches).
					if st.ParkedBytes > size*3/2 {
						t.Errorf("parks wrote %d bytes to local disk for a %d-byte file (%.2f×), want at most 1.5×",
							st.ParkedBytes, size, float64(st.ParkedBytes)/size)
					}
					if n := stagedObjects(t, v.cache); n != 0 {
						t.Errorf("%d objects left in the staging area after a clean close", n)
					}
					wantContent(t, tv.readOnly(t).Vault, "dl/big.tmp", data)
				})
			}
		}
	}
}

// writeInOrder creates p, sizes it with ftruncate and writes data's
// blocks in order, then fsyncs and closes it.
func writeInOrder(t testing.TB, v *Vault, p string, data []byte, block int, order []int) {
	t.Helper()
	f := createSized(t, v, p, int64(len(data)))
	for _, b := range order {
		off := b * block
		n, err := f.WriteAt(context.Background(), data[off:min(off+block, len(data))], int64(off))
		ok(t, err)
		if n != min(block, len(data)-off) {
			t.Fatalf("short write at %d: %d bytes", off, n)
		}
	}
	ok(t, f.Fsync(context.Background()))
	ok(t, f.Flush())
	f.Release()
}

// TestScatteredChunksCostWhatIsWritten: four files sized with ftruncate
// receive blocks in turn, a few in each chunk far from its start, as
// Syncthing fills several temporary files at once. The partial chunks
// hold only the blocks written: 32 of them fit in the smallest budget
// without a park (with a buffer up to each chunk's furthest write they
// needed twice the budget, and chunks were parked and read back over and
// over: issue 20). Then every block is written, and each byte is uploaded
// once.
func TestScatteredChunksCostWhatIsWritten(t *testing.T) {
	const (
		files  = 4
		chunks = 8 // per file: 32 partial chunks, twice the smallest budget
		block  = testChunk / 32
		size   = chunks * testChunk
	)
	store := &putCounter{Store: remote.NewMemory()}
	tv := newVault(t, store, testChunk)
	v := tv.open(t, func(o *Options) { o.MemoryBudget = 1 }) // the smallest
	ctx := context.Background()
	var fh []*File
	var data [][]byte
	for i := range files {
		fh = append(fh, createSized(t, v.Vault, fmt.Sprintf("sync/.tmp-%d", i), size))
		data = append(data, pattern(byte(40+i), size))
	}
	write := func(i, b int) {
		t.Helper()
		_, err := fh[i].WriteAt(ctx, data[i][b*block:(b+1)*block], int64(b*block))
		ok(t, err)
	}
	// Phase 1: blocks 24 and 30 of each chunk (three quarters in and
	// more), all files in turn.
	var written int64
	for ci := range chunks {
		for i := range files {
			for _, b := range []int{24, 30} {
				write(i, ci*32+b)
				written += block
			}
		}
	}
	st := v.Stats()
	if st.Parked != 0 {
		t.Errorf("%d chunks parked while %d bytes were written into 32 partial chunks (budget %d)", st.Parked, written, st.MemoryLimit)
	}
	if st.MemoryInUse > 2*written {
		t.Errorf("32 partial chunks holding %d bytes use %d bytes of write memory, want at most twice what they hold", written, st.MemoryInUse)
	}
	// Phase 2: the rest, files in turn, each chunk in order.
	for ci := range chunks {
		for i := range files {
			for b := range 32 {
				if b != 24 && b != 30 {
					write(i, ci*32+b)
				}
			}
		}
	}
	for i := range files {
		ok(t, fh[i].Fsync(ctx))
		ok(t, fh[i].Flush())
		fh[i].Release()
	}
	v.close(t)
	if got, want := store.bytes.Load(), int64(files*size); got > want*11/10 {
		t.Errorf("uploaded %d bytes for %d bytes of files (%.2f×), want at most 1.1×", got, want, float64(got)/float64(want))
	}
	ro := tv.readOnly(t).Vault
	for i := range files {
		wantContent(t, ro, fmt.Sprintf("sync/.tmp-%d", i), data[i])
	}
}

// TestBudgetHoldsForEveryWriter: the write memory never goes over the
// budget, whether a file is appended to (contiguous buffers that grow by
// doubling, or take the whole chunk at once for large writes) or filled
// in random order after ftruncate (pieces), in small and large writes.
func TestBudgetHoldsForEveryWriter(t *testing.T) {
	const size = 48 * testChunk // three times the smallest budget
	for _, block := range []int{testChunk / 32, testChunk / 2, 3 * testChunk / 2} {
		for _, sized := range []bool{false, true} {
			t.Run(fmt.Sprintf("block=%d/sized=%v", block, sized), func(t *testing.T) {
				tv := newVault(t, remote.NewMemory(), testChunk)
				v := tv.open(t, func(o *Options) { o.MemoryBudget = 1 }) // the smallest
				data := pattern(byte(block), size)
				order := make([]int, (size+block-1)/block)
				for i := range order {
					order[i] = i
				}
				var f *File
				if sized {
					f = createSized(t, v.Vault, "f.bin", size)
					rand.New(rand.NewPCG(uint64(block), 3)).Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
				} else {
					var err error
					f, err = v.create("f.bin")
					ok(t, err)
				}
				for _, b := range order {
					off := b * block
					_, err := f.WriteAt(context.Background(), data[off:min(off+block, size)], int64(off))
					ok(t, err)
				}
				ok(t, f.Fsync(context.Background()))
				ok(t, f.Flush())
				f.Release()
				if st := v.Stats(); st.MemoryPeak > st.MemoryLimit {
					t.Errorf("write memory peaked at %d bytes, over the budget of %d", st.MemoryPeak, st.MemoryLimit)
				}
				wantContent(t, v.Vault, "f.bin", data)
			})
		}
	}
}

// TestParkedChunksAfterCrash: a device crashes while a random-order writer
// has partial chunks parked in the staging area (memory ran short). The
// next mount on the device removes them unsent (nobody published them: as
// with unpublished writes in memory, a crash drops them) and the file is
// what its last fsync made it; the chunks parked before that fsync were
// uploaded by it.
func TestParkedChunksAfterCrash(t *testing.T) {
	const (
		size  = 64 * testChunk
		block = testChunk / 32
	)
	mem := remote.NewMemory()
	tv := newVault(t, mem, testChunk)
	cache := t.TempDir()
	cut := faults.New(mem)
	a := tv.openCache(t, cut, cache, func(o *Options) {
		o.MemoryBudget = size / 4
		o.CommitInterval = time.Hour
		o.OutageTimeout = time.Second
	})
	data := pattern(9, size)
	order := rand.New(rand.NewPCG(3, 4)).Perm(size / block)
	f := createSized(t, a.Vault, "dl/big.tmp", size)
	want := make([]byte, size)
	writeBlocks := func(blocks []int) {
		for _, b := range blocks {
			off := b * block
			_, err := f.WriteAt(context.Background(), data[off:off+block], int64(off))
			ok(t, err)
		}
	}
	half := len(order) / 2
	writeBlocks(order[:half])
	parked := a.Stats().Parked
	if parked == 0 {
		t.Fatal("no chunk parked before the fsync: the test does not test parking")
	}
	ok(t, f.Fsync(context.Background()))
	for _, b := range order[:half] {
		copy(want[b*block:], data[b*block:(b+1)*block])
	}
	writeBlocks(order[half:])
	if a.Stats().Parked == parked || stagedObjects(t, cache) == 0 {
		t.Fatal("nothing parked after the fsync: the crash would find nothing to clean")
	}
	crashed := filepath.Join(t.TempDir(), "cache")
	if out, err := exec.Command("cp", "-a", cache, crashed).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	outage(cut) // the abandoned mount commits nothing more
	f.Release()
	_ = a.Close(context.Background())

	b := tv.openCache(t, mem, crashed)
	if n := stagedObjects(t, crashed); n != 0 {
		t.Errorf("%d parked objects left in the staging area after the recovery", n)
	}
	wantContent(t, b.Vault, "dl/big.tmp", want)
	b.close(t)
	wantContent(t, tv.readOnly(t).Vault, "dl/big.tmp", want)
}

// TestTruncateIntoParkedChunk: a truncate that cuts a parked chunk keeps
// the parked object (its new, shorter version names it); the file reads
// back right before and after the publish.
func TestTruncateIntoParkedChunk(t *testing.T) {
	const (
		size  = 64 * testChunk
		block = testChunk / 32
	)
	tv := newVault(t, remote.NewMemory(), testChunk)
	v := tv.open(t, func(o *Options) { o.MemoryBudget = size / 4 })
	data := pattern(11, size)
	f := createSized(t, v.Vault, "dl/part.tmp", size)
	want := make([]byte, size)
	var parked int64 = -1
	for _, b := range rand.New(rand.NewPCG(5, 6)).Perm(size / block) {
		off := b * block
		_, err := f.WriteAt(context.Background(), data[off:off+block], int64(off))
		ok(t, err)
		copy(want[off:], data[off:off+block])
		f.f.mu.Lock()
		for ci, ver := range f.f.chunks {
			ver.mu.Lock()
			if ver.data == nil && len(ver.patches) > 0 && ci > 0 {
				parked = ci
			}
			ver.mu.Unlock()
		}
		f.f.mu.Unlock()
		if parked >= 0 {
			break
		}
	}
	if parked < 0 {
		t.Fatal("no chunk was parked")
	}
	cut := uint64(parked*testChunk + testChunk/3)
	_, err := v.SetAttr(context.Background(), f.Ino(), meta.SetAttrIn{Size: &cut})
	ok(t, err)
	want = want[:cut]
	got := make([]byte, cut)
	n, err := f.ReadAt(context.Background(), got, 0)
	ok(t, err)
	if n != int(cut) || !bytes.Equal(got, want) {
		t.Fatalf("before the publish: read %d bytes, want %d (content differs: %v)", n, cut, !bytes.Equal(got[:n], want[:n]))
	}
	ok(t, f.Fsync(context.Background()))
	f.Release()
	v.close(t)
	wantContent(t, tv.readOnly(t).Vault, "dl/part.tmp", want)
}

// TestReadWhileOutOfOrderWrites: a reader of a file that a random-order
// writer fills in a quarter of the memory it needs (so chunks are parked,
// read back and replaced) reads each block as either not yet written
// (zeros) or written, never an error: a parked object a write removes
// while a read is fetching it is read again from what replaced it.
func TestReadWhileOutOfOrderWrites(t *testing.T) {
	const (
		size  = 64 * testChunk
		block = testChunk / 32
	)
	tv := newVault(t, remote.NewMemory(), testChunk)
	v := tv.open(t, func(o *Options) { o.MemoryBudget = size / 4 })
	data := pattern(13, size)
	f := createSized(t, v.Vault, "dl/shared.tmp", size)
	r, err := v.OpenFile(f.Ino(), syscall.O_RDONLY)
	ok(t, err)
	defer r.Release()
	done := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		rng := rand.New(rand.NewPCG(7, 8))
		buf := make([]byte, block)
		zero := make([]byte, block)
		for {
			select {
			case <-done:
				return
			default:
			}
			off := rng.IntN(size/block) * block
			if _, err := r.ReadAt(context.Background(), buf, int64(off)); err != nil {
				readErr <- fmt.Errorf("read at %d: %w", off, err)
				return
			}
			if !bytes.Equal(buf, zero) && !bytes.Equal(buf, data[off:off+block]) {
				readErr <- fmt.Errorf("block at %d is neither unwritten nor written", off)
				return
			}
		}
	}()
	for _, b := range rand.New(rand.NewPCG(9, 10)).Perm(size / block) {
		off := b * block
		_, err := f.WriteAt(context.Background(), data[off:off+block], int64(off))
		ok(t, err)
	}
	close(done)
	if err := <-readErr; err != nil {
		t.Error(err)
	}
	if v.Stats().Parked == 0 {
		t.Error("no chunk was parked: the test does not test parking")
	}
	ok(t, f.Fsync(context.Background()))
	f.Release()
	wantContent(t, v.Vault, "dl/shared.tmp", data)
}

// TestPatchesModel writes, overwrites (also with zeros), reads, truncates
// and fsyncs a file at random in a quarter of the memory it needs, so that
// chunks are parked, written again over their patches, parked again and
// merged, and checks every read against a model, then the file after a
// close and on a read-only device. With a staging area of four chunks
// some parks find it full and the version is merged and uploaded instead.
// Seeds 1-4 give each chunk buffer a whole chunk at its first write (as
// before chunk buffers were allocated in pieces), so memory runs short
// within a few writes and chunks get two patches and more; seeds 5 and 6
// use the usual pieces over a file four times the size, so the model
// checks sparse buffers (reads between pieces, truncations inside them,
// clones over patches), with few parks.
func TestPatchesModel(t *testing.T) {
	for _, c := range []struct {
		seed   uint64
		stage  int64
		pieces bool // chunk buffers in the usual pieces, rare fsyncs
	}{{1, 0, false}, {2, 0, false}, {3, 0, false}, {4, 4 * testChunk, false}, {5, 0, true}, {6, 0, true}} {
		t.Run(fmt.Sprint(c.seed), func(t *testing.T) {
			size := 32 * testChunk
			if c.pieces {
				size *= 4 // what is written is what costs memory
			}
			tv := newVault(t, remote.NewMemory(), testChunk)
			v := tv.open(t, func(o *Options) {
				o.MemoryBudget, o.StageBudget = 8*testChunk, c.stage
				if !c.pieces {
					o.Tuning.ChunkPiece = testChunk
				}
			})
			seed := c.seed
			r := rand.New(rand.NewPCG(seed, 99))
			f := createSized(t, v.Vault, "dl/model.bin", int64(size))
			model := make([]byte, size)
			var stacked bool // a chunk had two patches or more
			ctx := context.Background()
			for i := range 3000 {
				op := r.IntN(100)
				switch {
				case op < 80:
					n := []int{testChunk / 32, testChunk / 8, 4096, 1}[r.IntN(4)]
					off := r.IntN(size - n + 1)
					b := make([]byte, n)
					if r.IntN(5) > 0 {
						for j := range b {
							b[j] = byte(r.Uint32()) | 1
						}
					}
					_, err := f.WriteAt(ctx, b, int64(off))
					ok(t, err)
					if off+n > len(model) {
						model = append(model, make([]byte, off+n-len(model))...)
					}
					copy(model[off:], b)
				case op < 95:
					n := r.IntN(2*testChunk) + 1
					off := r.IntN(len(model) + 1)
					got := make([]byte, n)
					k, err := f.ReadAt(ctx, got, int64(off))
					ok(t, err)
					want := model[min(off, len(model)):min(off+n, len(model))]
					if !bytes.Equal(got[:k], want) {
						t.Fatalf("op %d: read [%d,+%d) differs from what was written", i, off, n)
					}
				case op < 98:
					n := uint64(r.IntN(size + 1))
					_, err := v.SetAttr(ctx, f.Ino(), meta.SetAttrIn{Size: &n})
					ok(t, err)
					if int(n) < len(model) {
						model = model[:n]
					} else {
						model = append(model, make([]byte, int(n)-len(model))...)
					}
				default:
					ok(t, f.Fsync(ctx))
				}
				f.f.mu.Lock()
				for _, ver := range f.f.chunks {
					stacked = stacked || len(ver.patches) >= 2
				}
				f.f.mu.Unlock()
			}
			if !stacked && !c.pieces {
				t.Error("no chunk had two patches: the test does not test patches")
			}
			ok(t, f.Flush())
			f.Release()
			wantContent(t, v.Vault, "dl/model.bin", model)
			v.close(t)
			if n := stagedObjects(t, v.cache); n != 0 {
				t.Errorf("%d objects left in the staging area after a clean close", n)
			}
			wantContent(t, tv.readOnly(t).Vault, "dl/model.bin", model)
		})
	}
}

// TestPatchesScattered: chunks written in more small pieces than a
// version tracks are parked whole when another file needs the memory, and
// a version over patches that gets that scattered merges them first; the
// file reads back right throughout and after a close.
func TestPatchesScattered(t *testing.T) {
	const (
		chunks = 16 // the smallest budget's worth
		stride = testChunk / (2 * maxSpans)
	)
	tv := newVault(t, remote.NewMemory(), testChunk)
	v := tv.open(t, func(o *Options) { o.MemoryBudget = chunks * testChunk })
	ctx := context.Background()
	a := createSized(t, v.Vault, "a.bin", chunks*testChunk)
	model := make([]byte, chunks*testChunk)
	scatter := func(ci, at int) {
		for i := range 2 * maxSpans {
			off := ci*testChunk + i*stride + at
			_, err := a.WriteAt(ctx, []byte{byte(i + at)}, int64(off))
			ok(t, err)
			model[off] = byte(i + at)
		}
	}
	check := func(when string) {
		t.Helper()
		got := make([]byte, len(model))
		n, err := a.ReadAt(ctx, got, 0)
		ok(t, err)
		if n != len(model) || !bytes.Equal(got, model) {
			t.Fatalf("%s: a reads back wrong (%d bytes)", when, n)
		}
	}
	for ci := range chunks {
		scatter(ci, 1)
	}
	b, err := v.create("b.bin")
	ok(t, err)
	bdata := pattern(3, testChunk/2)
	_, err = b.WriteAt(ctx, bdata, 0) // needs a's memory: a chunk of a is parked
	ok(t, err)
	if v.Stats().Parked == 0 {
		t.Fatalf("no scattered chunk was parked: %+v", v.Stats())
	}
	check("parked")
	a.f.mu.Lock()
	parked := -1
	for ci, ver := range a.f.chunks {
		if len(ver.patches) > 0 {
			parked = int(ci)
		}
	}
	a.f.mu.Unlock()
	if parked < 0 {
		t.Fatal("no chunk of a has a patch")
	}
	scatter(parked, 7) // over the patch, scattered again: merged
	a.f.mu.Lock()
	patches := len(a.f.chunks[int64(parked)].patches)
	a.f.mu.Unlock()
	if patches != 0 {
		t.Errorf("a scattered version over %d patches was not merged", patches)
	}
	check("merged")
	for _, h := range []*File{a, b} {
		ok(t, h.Flush())
		h.Release()
	}
	v.close(t)
	ro := tv.readOnly(t).Vault
	wantContent(t, ro, "a.bin", model)
	wantContent(t, ro, "b.bin", bdata)
}

// TestPatchesConcurrent: four writers fill four files out of order at once
// in the smallest budget, each rewriting blocks, reading back what it
// wrote and fsyncing now and then, so that one writer's evictions park
// another's chunks while that one writes, reads or publishes them (the
// park's end finds its version replaced or published). Every read and
// every file afterwards, also on a read-only device, is what was written.
func TestPatchesConcurrent(t *testing.T) {
	const (
		files = 4
		size  = 16 * testChunk
		block = testChunk / 32
	)
	tv := newVault(t, remote.NewMemory(), testChunk)
	v := tv.open(t, func(o *Options) { o.MemoryBudget = 16 * testChunk })
	ctx := context.Background()
	models := make([][]byte, files)
	errs := make(chan error, files)
	for w := range files {
		go func() {
			errs <- func() error {
				r := rand.New(rand.NewPCG(uint64(w), 7))
				f, err := v.create(fmt.Sprintf("w%d.bin", w))
				if err != nil {
					return err
				}
				defer f.Release()
				n := uint64(size)
				if _, err := v.SetAttr(ctx, f.Ino(), meta.SetAttrIn{Size: &n}); err != nil {
					return err
				}
				model := make([]byte, size)
				order := r.Perm(size / block)
				order = append(order, order[:len(order)/4]...) // a quarter written again
				for i, b := range order {
					buf := make([]byte, block)
					for j := range buf {
						buf[j] = byte(r.Uint32())
					}
					if _, err := f.WriteAt(ctx, buf, int64(b*block)); err != nil {
						return err
					}
					copy(model[b*block:], buf)
					if i%7 == 0 {
						off := r.IntN(size - 2*block)
						got := make([]byte, 2*block)
						if _, err := f.ReadAt(ctx, got, int64(off)); err != nil {
							return err
						}
						if !bytes.Equal(got, model[off:off+2*block]) {
							return fmt.Errorf("writer %d: read at %d after %d writes differs", w, off, i)
						}
					}
					if i%300 == 299 {
						if err := f.Fsync(ctx); err != nil {
							return err
						}
					}
				}
				models[w] = model
				return f.Flush()
			}()
		}()
	}
	for range files {
		ok(t, <-errs)
	}
	if v.Stats().Parked == 0 {
		t.Fatal("nothing was parked: the test does not test patches")
	}
	for w := range files {
		wantContent(t, v.Vault, fmt.Sprintf("w%d.bin", w), models[w])
	}
	// Every chunk was completed and every file fsynced: once committed,
	// nothing is left staged (a patch of a replaced version is removed,
	// not kept until unmount). Uploads of replaced versions may still be
	// ending: wait for the count to fall, up to a deadline.
	ok(t, v.Sync(ctx))
	for deadline := time.Now().Add(30 * time.Second); v.Stats().StagedObjects != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d objects still staged 30 s after the commit", v.Stats().StagedObjects)
		}
		time.Sleep(10 * time.Millisecond)
	}
	v.close(t)
	if n := stagedObjects(t, v.cache); n != 0 {
		t.Errorf("%d objects left in the staging area after a clean close", n)
	}
	ro := tv.readOnly(t).Vault
	for w := range files {
		wantContent(t, ro, fmt.Sprintf("w%d.bin", w), models[w])
	}
}

// TestPatchTamperedOnDisk: parked patches altered on the local disk are
// never merged into the file: the fsync that would publish them fails
// with a read error naming the file, and a read returns an error, not
// bytes.
func TestPatchTamperedOnDisk(t *testing.T) {
	const (
		size  = 32 * testChunk
		block = testChunk / 32
	)
	tv := newVault(t, remote.NewMemory(), testChunk)
	v := tv.open(t, func(o *Options) { o.MemoryBudget, o.Tuning.ChunkPiece = size/4, testChunk })
	ctx := context.Background()
	f := createSized(t, v.Vault, "dl/part.bin", size)
	defer f.Release()
	data := pattern(4, size)
	for _, b := range rand.New(rand.NewPCG(8, 9)).Perm(size / block)[:size/block/2] {
		_, err := f.WriteAt(ctx, data[b*block:(b+1)*block], int64(b*block))
		ok(t, err)
	}
	if v.Stats().Parked == 0 {
		t.Fatal("nothing was parked: the test does not test patches")
	}
	dir := filepath.Join(v.cache, stage.DirName, "objects")
	ents, err := os.ReadDir(dir)
	ok(t, err)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		ok(t, err)
		b[len(b)/2] ^= 1
		ok(t, os.WriteFile(p, b, 0o600))
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(ctx, buf, 0); err == nil {
		t.Error("a read over tampered patches returned bytes")
	}
	err = f.Fsync(ctx)
	if want := fmt.Sprintf("of inode %d: crypt:", f.Ino()); !errors.Is(err, syscall.EIO) || !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("fsync over tampered patches: %v; want EIO with a read error naming inode %d", err, f.Ino())
	}
}

// createSized creates p and sizes it with ftruncate, as a downloader or
// sync tool does before it writes the blocks in its own order.
func createSized(t testing.TB, v *Vault, p string, size int64) *File {
	t.Helper()
	f, err := v.create(p)
	ok(t, err)
	n := uint64(size)
	_, err = v.SetAttr(context.Background(), f.Ino(), meta.SetAttrIn{Size: &n})
	ok(t, err)
	return f
}

// TestParkedChunkTruncated: a parked chunk whose one patch starts at the
// chunk's first byte, cut by a truncation inside it, then published: the
// bytes past the cut read as zeros after the file grows again, before and
// after the publish and on another device. Before the fix the publish
// sent the patch's object as the whole chunk with its old length, and the
// cut bytes came back (found by TestPatchesModel with another eviction
// order).
func TestParkedChunkTruncated(t *testing.T) {
	const chunks = 16 // the smallest budget
	tv := newVault(t, remote.NewMemory(), testChunk)
	v := tv.open(t, func(o *Options) { o.MemoryBudget, o.Tuning.ChunkPiece = 1, testChunk })
	ctx := context.Background()
	size := int64(chunks * testChunk)
	a := createSized(t, v.Vault, "a.bin", size)
	data := pattern(23, int(size))
	const head = testChunk * 3 / 4 // a whole buffer each
	for ci := range int64(chunks) {
		_, err := a.WriteAt(ctx, data[ci*testChunk:ci*testChunk+head], ci*testChunk)
		ok(t, err)
	}
	b := createSized(t, v.Vault, "b.bin", testChunk)
	_, err := b.WriteAt(ctx, []byte("needs memory"), 0)
	ok(t, err)
	parked := int64(-1)
	a.f.mu.Lock()
	for ci, ver := range a.f.chunks {
		ver.mu.Lock()
		if ver.data == nil && len(ver.patches) == 1 && ver.patches[0].spans[0].off == 0 {
			parked = ci
		}
		ver.mu.Unlock()
	}
	a.f.mu.Unlock()
	if parked < 0 {
		t.Fatal("no chunk of a.bin was parked as one patch from its start")
	}
	cut := parked*testChunk + testChunk/4
	want := slices.Clone(data[:cut])
	want = append(want, make([]byte, size-cut)...)
	for _, n := range []uint64{uint64(cut), uint64(size)} {
		_, err := v.SetAttr(ctx, a.Ino(), meta.SetAttrIn{Size: &n})
		ok(t, err)
	}
	got := make([]byte, size)
	_, err = a.ReadAt(ctx, got, 0)
	ok(t, err)
	if !bytes.Equal(got, want) {
		t.Error("before the publish: bytes past the cut are not zeros")
	}
	ok(t, errors.Join(a.Fsync(ctx), a.Flush(), b.Flush()))
	a.Release()
	b.Release()
	wantContent(t, v.Vault, "a.bin", want)
	v.close(t)
	wantContent(t, tv.readOnly(t).Vault, "a.bin", want)
}

// TestWritePlannedOverFrozenVersion: a write plans to go into its chunk's
// open version, and before it takes the file's lock again that version is
// frozen (another writer's eviction, which picks chunks of writers that
// wait for memory, parks or sends it) and its upload ends, dropping the
// buffer. The write must plan again and land in
// a new version. Before the fix it wrote into the frozen version: a nil
// dereference once the buffer was dropped (seen once in
// TestPatchesConcurrent under -race), or, while the seal ran, bytes
// changed under it and then lost with the dropped buffer.
func TestWritePlannedOverFrozenVersion(t *testing.T) {
	tv := newVault(t, remote.NewMemory(), testChunk)
	v := tv.open(t)
	ctx := context.Background()
	f, err := v.create("a.bin")
	ok(t, err)
	first := pattern(1, testChunk/4)
	_, err = f.WriteAt(ctx, first, 0)
	ok(t, err)
	froze := 0
	testHookPlanned = func(fl *file, ci int64) {
		fl.mu.Lock()
		ver := fl.chunks[ci]
		if ver == nil || ver.frozen {
			fl.mu.Unlock()
			return
		}
		fl.fs.freezeLocked(fl, ver)
		fl.mu.Unlock()
		froze++
		ver.mu.Lock()
		done := ver.done
		ver.mu.Unlock()
		<-done // the upload ends and drops the buffer
	}
	t.Cleanup(func() { testHookPlanned = nil })
	second := pattern(2, testChunk/4)
	_, err = f.WriteAt(ctx, second, int64(len(first)))
	testHookPlanned = nil
	ok(t, err)
	if froze != 1 {
		t.Fatalf("the hook froze %d versions, want 1: the write did not plan into the open version", froze)
	}
	ok(t, f.Flush())
	f.Release()
	v.close(t)
	wantContent(t, tv.readOnly(t).Vault, "a.bin", append(first, second...))
}
