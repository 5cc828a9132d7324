package lease

import (
	"context"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// BenchmarkRenew measures one renewal (seal + compare-and-swap put), the
// steady cost of holding the lease, on each store.
func BenchmarkRenew(b *testing.B) {
	for name, newStore := range map[string]func(*testing.B) remote.Store{
		"memory": func(*testing.B) remote.Store { return remote.NewMemory() },
		"s3":     func(b *testing.B) remote.Store { return s3test.NewStore(b) },
	} {
		b.Run(name, func(b *testing.B) {
			s, k := newStore(b), newKeys(b)
			l, err := Acquire(context.Background(), s, k, Options{Device: "bench", MountID: "m"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Renew(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAcquireRelease measures a clean mount's lease round trip:
// read, take, release.
func BenchmarkAcquireRelease(b *testing.B) {
	s, k := remote.NewMemory(), newKeys(b)
	b.ReportAllocs()
	for b.Loop() {
		l, err := Acquire(context.Background(), s, k, Options{Device: "bench", MountID: "m"})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
