package localstate

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: %v, want ErrLocked", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, err = Lock(dir)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock()
}

func TestLastMountSurvivesReopen(t *testing.T) {
	dir, k := t.TempDir(), newKey(t)
	s := mustOpen(t, dir, k)
	if s.LastMount() != "" {
		t.Fatalf("fresh LastMount = %q", s.LastMount())
	}
	if err := s.SetMount("mount-1"); err != nil {
		t.Fatal(err)
	}
	if got := mustOpen(t, dir, k).LastMount(); got != "mount-1" {
		t.Errorf("after reopen: LastMount = %q, want mount-1", got)
	}
}

// Two processes with the same state (a read-write mount and a read-only
// one) must not undo each other's saves: the older in-memory view never
// lowers the mark on disk or drops the other's fields.
func TestConcurrentStatesMerge(t *testing.T) {
	dir, k := t.TempDir(), newKey(t)
	rw, ro := mustOpen(t, dir, k), mustOpen(t, dir, k)
	if err := rw.SetMount("rw-mount"); err != nil {
		t.Fatal(err)
	}
	if err := rw.Observe(head(20, "laptop", "2026-11-26 10:00")); err != nil {
		t.Fatal(err)
	}
	if err := ro.Observe(head(18, "laptop", "2026-11-26 09:00")); err != nil { // ro opened before #20
		t.Fatal(err)
	}
	if err := ro.Record("v1", time.Unix(100, 0)); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir, k)
	if c, _ := s.HighWater(); c.Seq != 20 {
		t.Errorf("mark on disk = #%d, want #20", c.Seq)
	}
	if c, _ := ro.HighWater(); c.Seq != 20 {
		t.Errorf("the read-only state did not pick up #20: #%d", c.Seq)
	}
	if s.LastMount() != "rw-mount" {
		t.Errorf("LastMount = %q, want rw-mount", s.LastMount())
	}
	if first, ok := s.Seen("v1"); !ok || !first.Equal(time.Unix(100, 0)) {
		t.Errorf("Seen(v1) = %v, %v", first, ok)
	}

	var wg sync.WaitGroup
	for i := range 8 {
		st := mustOpen(t, dir, k)
		wg.Go(func() {
			if err := st.Observe(head(uint64(21+i), "laptop", "2026-11-26 11:00")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c, _ := mustOpen(t, dir, k).HighWater(); c.Seq != 28 {
		t.Errorf("after concurrent saves the mark is #%d, want #28", c.Seq)
	}
}
