package lease

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC // messages show times in the local zone
	s3test.Main(m)
}

// eachStore runs fn against a fresh memory store and a fresh bucket on a
// real MinIO.
func eachStore(t *testing.T, fn func(t *testing.T, s remote.Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, remote.NewMemory()) })
	t.Run("s3", func(t *testing.T) { fn(t, s3test.NewStore(t)) })
}

// eachStoreFactory is eachStore for tests that need several fresh stores.
func eachStoreFactory(t *testing.T, fn func(t *testing.T, newStore func(t *testing.T) remote.Store)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, func(*testing.T) remote.Store { return remote.NewMemory() })
	})
	t.Run("s3", func(t *testing.T) {
		s3test.Server(t) // skip here, not in every case, when there is no MinIO
		fn(t, func(t *testing.T) remote.Store { return s3test.NewStore(t) })
	})
}

func newKeys(t testing.TB) *crypt.Keys {
	t.Helper()
	var master crypt.Key
	if _, err := rand.Read(master[:]); err != nil {
		t.Fatal(err)
	}
	return crypt.DeriveKeys(master, crypt.SuiteAES256GCM, 4<<20)
}

// clock is a fake clock; Sleep advances it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 23, 40, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Sleep(d time.Duration, done <-chan struct{}) {
	select {
	case <-done:
	default:
		c.Advance(d)
	}
}

// device returns options for a device named name on the fake clock c.
func device(name string, c *clock) Options {
	o := Options{Device: name, MountID: name + "-mount", TTL: time.Minute, Observer: NewMemoryObserver()}
	if c != nil {
		o.Now, o.Sleep = c.Now, c.Sleep
	}
	return o
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustAcquire(t *testing.T, s remote.Store, k *crypt.Keys, o Options) *Lease {
	t.Helper()
	l, err := Acquire(ctxT(t), s, k, o)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", o.Device, err)
	}
	return l
}

func mustRead(t *testing.T, s remote.Store, k *crypt.Keys) Info {
	t.Helper()
	i, err := Read(ctxT(t), s, k)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return i
}

// testLogger sends log records to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
