package lease

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
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

// manualClock is a fake clock only the test moves: Sleep blocks until
// Advance has moved the clock past the sleeper's wake-up time (or done is
// closed), so a renewal loop runs exactly when the test says.
type manualClock struct {
	mu      sync.Mutex
	t       time.Time
	waiters []manualWaiter
}

type manualWaiter struct {
	at time.Time
	ch chan struct{}
}

func newManualClock() *manualClock { return &manualClock{t: newClock().Now()} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Sleep(d time.Duration, done <-chan struct{}) {
	c.mu.Lock()
	w := manualWaiter{at: c.t.Add(d), ch: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	select {
	case <-w.ch:
	case <-done:
		c.mu.Lock()
		c.waiters = slices.DeleteFunc(c.waiters, func(x manualWaiter) bool { return x.ch == w.ch })
		c.mu.Unlock()
	}
}

// Advance moves the clock and wakes the sleepers whose time has come.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.waiters = slices.DeleteFunc(c.waiters, func(w manualWaiter) bool {
		if w.at.After(c.t) {
			return false
		}
		close(w.ch)
		return true
	})
}

// waitSleepers waits until n goroutines sleep on c.
func (c *manualClock) waitSleepers(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d sleepers", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.waiters) >= n
	})
}

// waitFor polls cond until it holds, failing the test after a deadline
// that a healthy run misses by far.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 30s", what)
		}
		time.Sleep(time.Millisecond)
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
