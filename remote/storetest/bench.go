package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// Bench measures put and get of 16 KiB (metadata-sized) and 4 MiB
// (chunk-sized) objects, serial and with 8 goroutines per CPU, and 64 KiB
// range reads (one sealed segment).
func Bench(b *testing.B, newStore func(b *testing.B) remote.Store) {
	for _, size := range []int{16 << 10, 4 << 20} {
		name := fmt.Sprintf("%dKiB", size>>10)
		b.Run("Put/"+name, func(b *testing.B) { benchPut(b, newStore(b), size, false) })
		b.Run("Get/"+name, func(b *testing.B) { benchGet(b, newStore(b), size, false) })
		b.Run("PutParallel/"+name, func(b *testing.B) { benchPut(b, newStore(b), size, true) })
		b.Run("GetParallel/"+name, func(b *testing.B) { benchGet(b, newStore(b), size, true) })
	}
	b.Run("GetRange/64KiB", func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		if _, err := s.Put(ctx, "r", pattern(1, 4<<20), remote.PutOptions{}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(64 << 10)
		b.ReportAllocs()
		off := int64(0)
		for b.Loop() {
			if _, err := s.GetRange(ctx, "r", off, 64<<10); err != nil {
				b.Fatal(err)
			}
			off = (off + 64<<10) % (4 << 20)
		}
	})
}

func benchPut(b *testing.B, s remote.Store, size int, par bool) {
	ctx := context.Background()
	data := pattern(2, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var n atomic.Int64
	one := func() {
		key := fmt.Sprintf("data/%02x/%d", n.Load()%256, n.Add(1))
		if _, err := s.Put(ctx, key, data, remote.PutOptions{}); err != nil {
			b.Error(err)
		}
	}
	if !par {
		for b.Loop() {
			one()
		}
		return
	}
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			one()
		}
	})
}

func benchGet(b *testing.B, s remote.Store, size int, par bool) {
	ctx := context.Background()
	const objects = 16
	for i := range objects {
		if _, err := s.Put(ctx, fmt.Sprintf("o%d", i), pattern(byte(i), size), remote.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer() // RunParallel, unlike b.Loop, would count the setup
	var n atomic.Int64
	one := func() {
		if _, _, err := s.Get(ctx, fmt.Sprintf("o%d", n.Add(1)%objects)); err != nil {
			b.Error(err)
		}
	}
	if !par {
		for b.Loop() {
			one()
		}
		return
	}
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			one()
		}
	})
}
