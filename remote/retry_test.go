package remote_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
	"github.com/sealfs/sealfs/remote/storetest"
)

// fast retries for tests: many attempts, tiny delays.
var fastRetry = remote.RetryOptions{MaxAttempts: 10, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

func faulty() (*faults.Store, *remote.Retry) {
	f := faults.New(remote.NewMemory())
	return f, remote.WithRetry(f, fastRetry)
}

func TestRetryRecoversFromTransientFaults(t *testing.T) {
	for name, err := range map[string]error{
		"500":   faults.ErrServer,
		"503":   faults.ErrUnavailable,
		"reset": faults.ErrReset,
	} {
		t.Run(name, func(t *testing.T) {
			f, r := faulty()
			ctx := context.Background()
			f.Inject(faults.Put, faults.Fail(err).Times(3))
			f.Inject(faults.Get, faults.Fail(err).Times(3))
			if _, err := r.Put(ctx, "k", []byte("v"), remote.PutOptions{}); err != nil {
				t.Fatalf("put: %v", err)
			}
			got, _, err := r.Get(ctx, "k")
			if err != nil || string(got) != "v" {
				t.Fatalf("get = %q, %v", got, err)
			}
			if f.Calls(faults.Put) != 4 || f.Calls(faults.Get) != 4 {
				t.Errorf("calls put=%d get=%d, want 4 each (3 failures + 1)", f.Calls(faults.Put), f.Calls(faults.Get))
			}
		})
	}
}

func TestRetryDoesNotRetryPermanentErrors(t *testing.T) {
	f, r := faulty()
	_, _, err := r.Get(context.Background(), "missing")
	if !errors.Is(err, remote.ErrNotFound) || f.Calls(faults.Get) != 1 {
		t.Fatalf("get missing: %v after %d calls; want ErrNotFound after 1", err, f.Calls(faults.Get))
	}
	boom := errors.New("disk on fire")
	f.Inject(faults.Stat, faults.Fail(boom))
	if _, err := r.Stat(context.Background(), "x"); !errors.Is(err, boom) || f.Calls(faults.Stat) != 1 {
		t.Fatalf("stat: %v after %d calls; want the permanent error after 1", err, f.Calls(faults.Stat))
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	f, r := faulty()
	f.Inject(faults.Get, faults.Fail(faults.ErrUnavailable))
	_, _, err := r.Get(context.Background(), "k")
	if !errors.Is(err, faults.ErrUnavailable) || f.Calls(faults.Get) != fastRetry.MaxAttempts {
		t.Fatalf("%v after %d calls; want the 503 after %d", err, f.Calls(faults.Get), fastRetry.MaxAttempts)
	}
	t.Logf("error: %v", err)
}

// A store that always fails must not hang the caller past its deadline,
// however many attempts are allowed.
func TestRetryBoundedByDeadline(t *testing.T) {
	for name, rule := range map[string]*faults.Rule{
		"always 500":  faults.Fail(faults.ErrServer),
		"always hang": faults.Hang(),
		"slow resets": faults.Delay(30 * time.Millisecond),
	} {
		t.Run(name, func(t *testing.T) {
			f := faults.New(remote.NewMemory())
			f.Inject(faults.Any, rule)
			if name == "slow resets" {
				f.Inject(faults.Any, faults.Fail(faults.ErrReset))
			}
			r := remote.WithRetry(f, remote.RetryOptions{MaxAttempts: 1000, BaseDelay: 20 * time.Millisecond, MaxDelay: time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := r.Put(ctx, "k", []byte("v"), remote.PutOptions{})
			took := time.Since(start)
			if err == nil {
				t.Fatal("put succeeded on a failing store")
			}
			if took > 10*time.Second { // 1000 attempts would take many minutes
				t.Fatalf("put took %s with a 500ms deadline", took)
			}
			t.Logf("after %s: %v", took.Round(time.Millisecond), err)
		})
	}
}

// The first try of a create-only put lands but its reply is lost; the
// retry is refused; Retry must see that the object is its own.
func TestRetryConditionalPutResponseLost(t *testing.T) {
	for _, cas := range []bool{false, true} {
		t.Run(fmt.Sprintf("cas=%v", cas), func(t *testing.T) {
			f, r := faulty()
			ctx := context.Background()
			opts := remote.PutOptions{IfNoneMatch: true}
			if cas {
				etag, _ := r.Put(ctx, "head", []byte("old"), remote.PutOptions{})
				opts = remote.PutOptions{IfMatch: etag}
			}
			f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).Times(1))
			etag, err := r.Put(ctx, "head", []byte("mine"), opts)
			if err != nil {
				t.Fatalf("put whose first try landed: %v", err)
			}
			_, info, _ := r.Get(ctx, "head")
			if info.ETag != etag {
				t.Errorf("returned ETag %q, stored %q", etag, info.ETag)
			}
			if f.Calls(faults.Put) < 2 {
				t.Errorf("only %d put calls: the lost response was not retried", f.Calls(faults.Put))
			}
		})
	}
}

// The first try fails before reaching the store while someone else
// creates the key: the retry's refusal is genuine and must be reported.
func TestRetryConditionalPutGenuinelyRefused(t *testing.T) {
	f, r := faulty()
	ctx := context.Background()
	f.Inject(faults.Put, faults.Fail(faults.ErrReset).Nth(1))
	f.Inject(faults.Put, faults.Delay(0).If(func(c faults.Call) bool {
		if c.N == 1 { // meanwhile, another device takes the key
			f.Store.Put(ctx, "lease", []byte("other device"), remote.PutOptions{})
		}
		return false
	}))
	_, err := r.Put(ctx, "lease", []byte("this device"), remote.PutOptions{IfNoneMatch: true})
	if !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("put: %v, want ErrPrecondition", err)
	}
	got, _, _ := r.Get(ctx, "lease")
	if string(got) != "other device" {
		t.Fatalf("lease holds %q", got)
	}
}

func TestRetryListResumesWithoutDuplicates(t *testing.T) {
	f, r := faulty()
	ctx := context.Background()
	var want []string
	for i := range 50 {
		k := fmt.Sprintf("k%03d", i)
		want = append(want, k)
		r.Put(ctx, k, []byte("x"), remote.PutOptions{})
	}
	f.Inject(faults.List, faults.FailAfterKeys(10, faults.ErrReset).Nth(1))
	f.Inject(faults.List, faults.FailAfterKeys(30, faults.ErrServer).Nth(2))
	var got []string
	if err := r.List(ctx, "", func(oi remote.ObjectInfo) error { got = append(got, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d keys %v..., want each of %d once", len(got), got[:min(len(got), 5)], len(want))
	}
	if f.Calls(faults.List) != 3 {
		t.Errorf("%d list calls, want 3", f.Calls(faults.List))
	}
}

// The whole contract holds through Retry over a store that fails a third
// of all calls transiently, before or after doing them.
func TestRetryConformanceUnderFaults(t *testing.T) {
	var mu sync.Mutex
	injected := 0
	storetest.Run(t, func(t *testing.T) remote.Store {
		f := faults.New(remote.NewMemory())
		rnd := rand.New(rand.NewPCG(1, 2))
		coin := func(faults.Call) bool {
			mu.Lock()
			defer mu.Unlock()
			hit := rnd.IntN(6) == 0
			if hit {
				injected++
			}
			return hit
		}
		f.Inject(faults.Any, faults.Fail(faults.ErrUnavailable).If(coin))
		f.Inject(faults.Any, faults.Fail(faults.ErrReset).If(coin))
		// Lost replies of unconditional writes only: a lost CAS reply with
		// a concurrent writer is undecidable (see Retry).
		f.Inject(faults.Put, faults.LoseResponse(faults.ErrServer).If(func(c faults.Call) bool {
			return !c.Opts.IfNoneMatch && c.Opts.IfMatch == "" && coin(c)
		}))
		return remote.WithRetry(f, remote.RetryOptions{MaxAttempts: 30, BaseDelay: 100 * time.Microsecond, MaxDelay: time.Millisecond})
	})
	if injected < 1000 {
		t.Errorf("only %d faults injected", injected)
	}
	t.Logf("%d faults injected", injected)
}

// TestCallRetry: a call made with WithCallRetry{Persist} goes on past the
// store's MaxAttempts until it succeeds, each failure is reported to
// OnRetry, a hung attempt is abandoned after AttemptTimeout and sent
// again, and the context still ends it.
func TestCallRetry(t *testing.T) {
	f := faults.New(remote.NewMemory())
	r := remote.WithRetry(f, remote.RetryOptions{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	f.Inject(faults.Put, faults.Fail(faults.ErrUnavailable).Times(5))
	if _, err := r.Put(context.Background(), "k", []byte("v"), remote.PutOptions{}); err == nil {
		t.Fatal("a plain call went past MaxAttempts")
	}
	var retried int
	ctx := remote.WithCallRetry(context.Background(), remote.CallRetry{Persist: true, OnRetry: func(error) { retried++ }})
	if _, err := r.Put(ctx, "k", []byte("v"), remote.PutOptions{}); err != nil {
		t.Fatalf("a persistent call: %v", err)
	}
	if retried != 3 || f.Calls(faults.Put) != 2+4 {
		t.Errorf("OnRetry called %d times over %d puts; want 3 over 6 (2 plain, 4 persistent)", retried, f.Calls(faults.Put))
	}

	f.Clear()
	f.Inject(faults.Stat, faults.Hang().Times(2))
	ctx = remote.WithCallRetry(context.Background(), remote.CallRetry{Persist: true, AttemptTimeout: 20 * time.Millisecond})
	if _, err := r.Stat(ctx, "k"); err != nil {
		t.Fatalf("a call whose first two attempts hang: %v", err)
	}

	f.Inject(faults.Stat, faults.Fail(faults.ErrUnavailable))
	cctx, cancel := context.WithCancel(context.Background())
	ctx = remote.WithCallRetry(cctx, remote.CallRetry{Persist: true, OnRetry: func(error) { cancel() }})
	if _, err := r.Stat(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("a persistent call whose context ends: %v, want context.Canceled", err)
	}
}
