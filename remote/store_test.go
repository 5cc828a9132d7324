package remote_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
	"github.com/sealfs/sealfs/remote/storetest"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		dirHelper(spec)
		os.Exit(0)
	}
	s3test.Main(m)
}

func newDir(tb testing.TB) remote.Store {
	d, err := remote.NewDir(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remote.Store { return remote.NewMemory() })
}

func TestDirConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remote.Store { return newDir(t) })
}

func TestLoggingConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remote.Store {
		return remote.WithLogging(remote.NewMemory(), slog.New(slog.DiscardHandler))
	})
}

func TestS3Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remote.Store { return s3test.NewStore(t) })
}

func BenchmarkMemory(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) remote.Store { return remote.NewMemory() })
}

func BenchmarkDir(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) remote.Store { return newDir(b) })
}

func BenchmarkS3(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) remote.Store { return s3test.NewStore(b) })
}
