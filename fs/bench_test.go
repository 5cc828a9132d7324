package fs

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// benchSize is the file size of the sequential benchmarks; the default
// keeps a plain -bench run quick, -bench.size=256 is the reference.
var benchSize = flag.Int("bench.size", 32, "MiB written and read by the sequential benchmarks")

// benchProfile names CPU profiles of BenchmarkSeqRead's timed reads (one
// file per read, FILE.N; go tool pprof merges them), without the setup.
var benchProfile = flag.String("bench.cpuprofile", "", "write CPU profiles of BenchmarkSeqRead's reads to `FILE`.N")

// benchStores runs fn against each store kind with a fresh vault of
// default-sized chunks.
func benchStores(b *testing.B, fn func(b *testing.B, v *testVault)) {
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			s3test.RequireFUSE(b)
			fn(b, newVault(b, s.new(b), crypt.DefaultChunkSize))
		})
	}
}

// seqFiles numbers the files writeSeq writes.
var seqFiles atomic.Uint64

// writeSeq writes a file of size bytes in 1 MiB writes, none of which
// repeats an earlier one of this process: identical chunks are stored
// once (format 3), so a file of one repeated block would upload one
// object and read back from the cache, measuring neither.
func writeSeq(b *testing.B, p string, size int) {
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	file := seqFiles.Add(1)
	buf := pattern(1, 1<<20)
	for off := 0; off < size; off += len(buf) {
		binary.LittleEndian.PutUint64(buf, file)
		binary.LittleEndian.PutUint64(buf[8:], uint64(off))
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSeqWrite writes a file in 1 MiB writes through the mount and
// syncs it to the store (the time includes sealing and uploading). Like
// BenchmarkSeqRead it reports this process's CPU time per MiB (the mount
// and the writer's write(2) calls; not the store when it is MinIO).
func BenchmarkSeqWrite(b *testing.B) {
	size := *benchSize << 20
	benchStores(b, func(b *testing.B, v *testVault) {
		mt := v.mount(b)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		i := 0
		c0 := processCPU(b)
		for b.Loop() {
			writeSeq(b, mt.path(fmt.Sprint("f", i)), size)
			if err := mt.m.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64((processCPU(b)-c0).Microseconds())/float64(b.N*(size>>20)), "cpu-µs/MiB")
	})
}

// BenchmarkSeqRead reads a file sequentially through a fresh mount (cold
// caches), in 1 MiB reads. Besides the time it reports the CPU time of
// this process (the mount and the reader's read(2) calls; not the store
// when it is MinIO) per MiB read: on a shared machine that moves much less
// than the time does.
func BenchmarkSeqRead(b *testing.B) {
	size := *benchSize << 20
	benchStores(b, func(b *testing.B, v *testVault) {
		mt := v.mount(b)
		writeSeq(b, mt.path("f"), size)
		mt.unmount(b)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		buf := make([]byte, 1<<20)
		var cpu time.Duration
		profiles := 0
		for b.Loop() {
			b.StopTimer()
			mt := v.mount(b, func(o *Options) { o.ReadOnly = true })
			f, err := os.Open(mt.path("f"))
			if err != nil {
				b.Fatal(err)
			}
			stop := startProfile(b, fmt.Sprintf("%s.%s.%d", *benchProfile, path.Base(b.Name()), profiles))
			profiles++
			b.StartTimer()
			c0 := processCPU(b)
			n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{f}, buf)
			if err != nil || n != int64(size) {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			cpu += processCPU(b) - c0
			stop()
			b.StopTimer()
			f.Close()
			mt.unmount(b)
			b.StartTimer()
		}
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*(size>>20)), "cpu-µs/MiB")
	})
}

// startProfile starts a CPU profile into name if -bench.cpuprofile is set
// and returns the function that ends it.
func startProfile(b *testing.B, name string) (stop func()) {
	if *benchProfile == "" {
		return func() {}
	}
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// processCPU is the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSmallFiles creates 2,000 files of 4 KiB through the mount and
// syncs them.
func BenchmarkSmallFiles(b *testing.B) {
	const files, size = 2000, 4 << 10
	benchStores(b, func(b *testing.B, v *testVault) {
		mt := v.mount(b)
		data := pattern(2, size)
		b.SetBytes(files * size)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			dir := mt.path(fmt.Sprint("d", i))
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			for j := range files {
				if err := os.WriteFile(fmt.Sprintf("%s/%d.jpg", dir, j), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			if err := mt.m.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
	})
}

// BenchmarkRawPut puts the same bytes as BenchmarkSeqWrite straight into
// the store, as 4 MiB objects with 8 in parallel: the ceiling for the
// mount's numbers.
func BenchmarkRawPut(b *testing.B) {
	rawBench(b, func(ctx context.Context, s remote.Store, key string, obj []byte) error {
		_, err := s.Put(ctx, key, obj, remote.PutOptions{})
		return err
	})
}

// BenchmarkRawGet gets the same bytes as BenchmarkSeqRead.
func BenchmarkRawGet(b *testing.B) {
	rawBench(b, func(ctx context.Context, s remote.Store, key string, obj []byte) error {
		_, err := s.GetRange(ctx, key, 0, int64(len(obj)))
		return err
	})
}

func rawBench(b *testing.B, op func(context.Context, remote.Store, string, []byte) error) {
	size := *benchSize << 20
	for _, sk := range stores {
		b.Run(sk.name, func(b *testing.B) {
			s := sk.new(b)
			ctx := context.Background()
			obj := pattern(3, crypt.DefaultChunkSize)
			n := size / len(obj)
			for i := range n {
				if _, err := s.Put(ctx, fmt.Sprint("raw/", i), obj, remote.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				var wg sync.WaitGroup
				sem := make(chan struct{}, vault.DefaultUploads)
				for i := range n {
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						if err := op(ctx, s, fmt.Sprint("raw/", i), obj); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
		})
	}
}
