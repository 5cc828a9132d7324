package fs

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// BenchmarkStaging compares a mount without a cache directory (uploads
// from memory) with one that stages sealed objects on local disk, writing
// 64 MiB and syncing, on the memory store: the cost of staging itself.
func BenchmarkStaging(b *testing.B) {
	for _, mode := range []string{"nocache", "staged"} {
		b.Run(mode, func(b *testing.B) {
			v := newVault(b, remote.NewMemory(), 4<<20)
			mt := v.mount(b, func(o *Options) {
				if mode == "nocache" {
					o.CacheDir = ""
				}
			})
			size := 64 << 20
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				writeSeq(b, mt.path(fmt.Sprint("f", i)), size)
				if err := mt.m.Sync(context.Background()); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkStagingSmall is BenchmarkStaging for 1,000 files of 4 KiB.
func BenchmarkStagingSmall(b *testing.B) {
	for _, mode := range []string{"nocache", "staged"} {
		b.Run(mode, func(b *testing.B) {
			v := newVault(b, remote.NewMemory(), 4<<20)
			mt := v.mount(b, func(o *Options) {
				if mode == "nocache" {
					o.CacheDir = ""
				}
			})
			data := pattern(2, 4096)
			i := 0
			for b.Loop() {
				dir := mt.path(fmt.Sprint("d", i))
				if err := os.Mkdir(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				for j := range 1000 {
					if err := os.WriteFile(fmt.Sprintf("%s/%d.jpg", dir, j), data, 0o644); err != nil {
						b.Fatal(err)
					}
				}
				if err := mt.m.Sync(context.Background()); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}
