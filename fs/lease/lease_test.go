package lease

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

func TestRaceExactlyOneWins(t *testing.T) {
	eachStore(t, func(t *testing.T, s remote.Store) {
		k := newKeys(t)
		// Slow puts, so that every contender reads "no lease" before the
		// first write lands even on the memory store.
		f := faults.New(s)
		f.Inject(faults.Put, faults.Delay(20*time.Millisecond))
		const n = 6
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = Acquire(ctxT(t), f, k, device(fmt.Sprintf("dev%d", i), nil))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i := range n {
			if errs[i] == nil {
				if winner >= 0 {
					t.Fatalf("both dev%d and dev%d acquired the lease", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("nobody acquired the lease: %v", errs)
		}
		want := fmt.Sprintf("dev%d", winner)
		for i, err := range errs {
			if i == winner {
				continue
			}
			var held *HeldError
			if !errors.As(err, &held) || held.Device != want || !strings.Contains(err.Error(), `device "`+want+`"`) {
				t.Errorf("dev%d: got %v, want a *HeldError naming %s", i, err, want)
			}
		}
		if i := mustRead(t, s, k); i.State != StateHeld || i.Device != want || i.Epoch != 1 {
			t.Errorf("Read = %+v, want held by %s at epoch 1", i, want)
		}
	})
}

func TestReleaseThenImmediateTakeover(t *testing.T) {
	eachStore(t, func(t *testing.T, s remote.Store) {
		k, c := newKeys(t), newClock()
		a := mustAcquire(t, s, k, device("phone-a", c))
		b := device("laptop", c)
		_, err := Acquire(ctxT(t), s, k, b)
		var held *HeldError
		if !errors.As(err, &held) {
			t.Fatalf("second device: got %v, want *HeldError", err)
		}
		want := `vault is held by device "phone-a" since 2026-11-26 23:40 UTC (mounted read-write there): ` +
			`unmount it there, mount read-only here with --read-only, wait 1m0s if it crashed, or take over with --force`
		if got := err.Error(); got != want {
			t.Errorf("message:\n got %s\nwant %s", got, want)
		}
		if err := a.Release(ctxT(t)); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if i := mustRead(t, s, k); i.State != StateReleased || i.Device != "phone-a" {
			t.Errorf("after release: %+v", i)
		}
		lb := mustAcquire(t, s, k, b) // no clock advance: at once
		if lb.Epoch() != a.Epoch()+1 {
			t.Errorf("epoch after takeover = %d, want %d", lb.Epoch(), a.Epoch()+1)
		}
		if err := a.Renew(ctxT(t)); !errors.Is(err, ErrReleased) {
			t.Errorf("Renew after Release: %v, want ErrReleased", err)
		}
		if err := a.Release(ctxT(t)); err != nil {
			t.Errorf("second Release: %v", err)
		}
		if i := mustRead(t, s, k); i.State != StateHeld || i.Device != "laptop" {
			t.Errorf("the old holder's calls changed the lease: %+v", i)
		}
	})
}

func TestCrashedHolderAfterTTL(t *testing.T) {
	eachStore(t, func(t *testing.T, s remote.Store) {
		k, c := newKeys(t), newClock()
		a := mustAcquire(t, s, k, device("phone-a", c)) // then "crashes": never renews
		b := device("laptop", c)
		for _, step := range []struct {
			advance time.Duration
			retry   time.Duration
		}{{0, time.Minute}, {30 * time.Second, 30 * time.Second}, {29 * time.Second, time.Second}} {
			c.Advance(step.advance)
			_, err := Acquire(ctxT(t), s, k, b)
			var held *HeldError
			if !errors.As(err, &held) || held.RetryAfter != step.retry {
				t.Fatalf("after %v more: got %v (retry %v), want *HeldError with RetryAfter %v", step.advance, err, held, step.retry)
			}
		}
		c.Advance(time.Second) // a full minute since b first saw this lease version
		lb := mustAcquire(t, s, k, b)
		if lb.Epoch() != 2 {
			t.Errorf("epoch = %d, want 2", lb.Epoch())
		}
		err := a.Renew(ctxT(t))
		if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), `device "laptop"`) {
			t.Errorf("old holder's Renew: %v, want ErrLost naming laptop", err)
		}
		if err := a.Check(); !errors.Is(err, ErrLost) {
			t.Errorf("old holder's Check: %v, want ErrLost", err)
		}
	})
}

func TestRenewingHolderIsNeverStale(t *testing.T) {
	eachStore(t, func(t *testing.T, s remote.Store) {
		k, c := newKeys(t), newClock()
		a := mustAcquire(t, s, k, device("phone-a", c))
		b := device("laptop", c)
		for i := range 10 { // 10 minutes of renewals every 20s, b asks every 20s
			c.Advance(20 * time.Second)
			if err := a.Renew(ctxT(t)); err != nil {
				t.Fatalf("Renew %d: %v", i, err)
			}
			var held *HeldError
			if _, err := Acquire(ctxT(t), s, k, b); !errors.As(err, &held) {
				t.Fatalf("round %d: got %v, want *HeldError", i, err)
			}
		}
		if err := a.Check(); err != nil {
			t.Errorf("Check: %v", err)
		}
	})
}

func TestForceTakeoverFencesOldHolder(t *testing.T) {
	eachStore(t, func(t *testing.T, s remote.Store) {
		k := newKeys(t)
		ao := device("phone-a", nil)
		ao.TTL = 300 * time.Millisecond
		a := mustAcquire(t, s, k, ao)
		lost := make(chan error, 2)
		done := make(chan struct{})
		go func() { defer close(done); a.Run(ctxT(t), func(err error) { lost <- err }) }()

		bo := device("laptop", nil)
		bo.Force = true
		b := mustAcquire(t, s, k, bo)
		if b.Epoch() != 2 {
			t.Errorf("forced epoch = %d, want 2", b.Epoch())
		}
		select {
		case err := <-lost:
			if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), `"laptop"`) {
				t.Errorf("onLost(%v), want ErrLost naming laptop", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("onLost did not fire")
		}
		<-done // Run returns after a loss
		if len(lost) != 0 {
			t.Error("onLost fired twice")
		}
		if err := a.Renew(ctxT(t)); !errors.Is(err, ErrLost) {
			t.Errorf("Renew: %v, want ErrLost", err)
		}
		if err := a.Release(ctxT(t)); !errors.Is(err, ErrLost) {
			t.Errorf("Release of a lost lease: %v, want ErrLost", err)
		}
		if i := mustRead(t, s, k); i.State != StateHeld || i.Device != "laptop" {
			t.Errorf("lease after the old holder's calls: %+v, want held by laptop", i)
		}
	})
}

func TestRunKeepsLeaseThenReleaseFreesIt(t *testing.T) {
	eachStore(t, func(t *testing.T, s remote.Store) {
		k := newKeys(t)
		c := newManualClock()
		ao := device("phone-a", nil)
		ao.Now, ao.Sleep = c.Now, c.Sleep
		ao.Logger = testLogger(t)
		a := mustAcquire(t, s, k, ao)
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.Run(ctxT(t), func(err error) { t.Errorf("onLost(%v) while renewing", err) })
		}()
		b := device("laptop", nil) // one observer across tries
		b.Now = c.Now
		// Three TTLs of renewals, one at a time: b would take a lease left
		// unrenewed for one TTL, and a must keep believing it holds it.
		for range 9 {
			renewed := mustRead(t, s, k).Renewed
			c.waitSleepers(t, 1) // Run waits for its next renewal
			c.Advance(a.TTL() / 3)
			waitFor(t, "a renewal", func() bool { return mustRead(t, s, k).Renewed.After(renewed) })
			var held *HeldError
			if _, err := Acquire(ctxT(t), s, k, b); !errors.As(err, &held) {
				t.Fatalf("while a renews: got %v, want *HeldError", err)
			}
			if err := a.Check(); err != nil {
				t.Fatalf("Check while renewing: %v", err)
			}
		}
		if err := a.Release(ctxT(t)); err != nil {
			t.Fatalf("Release: %v", err)
		}
		<-done // Release stops Run
		mustAcquire(t, s, k, b)
	})
}

func TestWaitTakesStaleLease(t *testing.T) {
	s, k, c := remote.NewMemory(), newKeys(t), newClock()
	mustAcquire(t, s, k, device("phone-a", c))
	b := device("laptop", c)
	b.Wait = true
	start := c.Now()
	lb := mustAcquire(t, s, k, b)
	if waited := c.Now().Sub(start); waited < time.Minute || waited > time.Minute+10*time.Second {
		t.Errorf("waited %v on the fake clock, want about the TTL", waited)
	}
	if lb.Epoch() != 2 {
		t.Errorf("epoch %d, want 2", lb.Epoch())
	}
}

func TestCheckExpiresWithoutRenewal(t *testing.T) {
	s, k, c := remote.NewMemory(), newKeys(t), newClock()
	a := mustAcquire(t, s, k, device("phone-a", c))
	c.Advance(53 * time.Second)
	if err := a.Check(); err != nil {
		t.Errorf("Check at 53s of a 60s TTL: %v", err)
	}
	c.Advance(time.Second)
	if err := a.Check(); !errors.Is(err, ErrExpired) {
		t.Errorf("Check at 54s: %v, want ErrExpired", err)
	}
	if err := a.Renew(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(); err != nil {
		t.Errorf("Check after renewal: %v", err)
	}
}

func TestNoPlaintextInLeaseObject(t *testing.T) {
	s, k := remote.NewMemory(), newKeys(t)
	o := device("phone-of-alice", nil)
	mustAcquire(t, s, k, o)
	b, _, err := s.Get(ctxT(t), Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{o.Device, o.MountID} {
		if strings.Contains(string(b), secret) {
			t.Errorf("lease object contains %q in the clear", secret)
		}
	}
}

func TestHeldBySameDeviceSaysSo(t *testing.T) {
	s, k := remote.NewMemory(), newKeys(t)
	mustAcquire(t, s, k, device("laptop", nil))
	again := device("laptop", nil)
	again.MountID = "laptop-mount-2" // a second (or restarted) mount here
	_, err := Acquire(ctxT(t), s, k, again)
	var held *HeldError
	if !errors.As(err, &held) || !held.SameDevice || !strings.Contains(err.Error(), `another mount on this device ("laptop")`) {
		t.Errorf("got %v, want *HeldError about another mount on this device", err)
	}
}

func TestTinyTTLIsClamped(t *testing.T) {
	s, k := remote.NewMemory(), newKeys(t)
	o := device("phone-a", nil)
	o.TTL = time.Microsecond // would be 0 ms in the record
	l := mustAcquire(t, s, k, o)
	if l.TTL() != minTTL {
		t.Errorf("TTL %v, want %v", l.TTL(), minTTL)
	}
	if i := mustRead(t, s, k); i.TTL != minTTL || i.State != StateHeld {
		t.Errorf("Read = %+v", i)
	}
}

func TestReclaimAfterCrashOnThisDevice(t *testing.T) {
	s, k := remote.NewMemory(), newKeys(t)
	first := device("laptop", nil)
	old := mustAcquire(t, s, k, first) // then crashes
	restart := device("laptop", nil)
	restart.MountID = "laptop-mount-2"

	restart.Reclaim = "some-other-mount"
	var held *HeldError
	if _, err := Acquire(ctxT(t), s, k, restart); !errors.As(err, &held) {
		t.Fatalf("Reclaim of a mount that does not hold the lease: %v, want *HeldError", err)
	}
	restart.Reclaim = first.MountID
	l := mustAcquire(t, s, k, restart)
	if l.Epoch() != 2 {
		t.Errorf("epoch %d, want 2", l.Epoch())
	}
	if err := old.Renew(ctxT(t)); !errors.Is(err, ErrLost) {
		t.Errorf("old mount's Renew: %v, want ErrLost", err)
	}
}
