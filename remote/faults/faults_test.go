package faults_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// TestOpenRange: GetRange rules decide OpenRange too (it is the same
// request), so fault tests of the read path keep working on either call.
func TestOpenRange(t *testing.T) {
	ctx := context.Background()
	f := faults.New(remote.NewMemory())
	f.Store.Put(ctx, "k", []byte("0123456789"), remote.PutOptions{})
	boom := errors.New("boom")
	f.Inject(faults.GetRange, faults.Truncate(3))
	rc, n, err := f.OpenRange(ctx, "k", 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || n != 3 || string(got) != "234" {
		t.Errorf("Truncate(3): count %d, %q, %v", n, got, err)
	}
	f.Clear()
	f.Inject(faults.GetRange, faults.Fail(boom))
	if _, _, err := f.OpenRange(ctx, "k", 0, 8); !errors.Is(err, boom) {
		t.Errorf("Fail: %v", err)
	}
	if f.Calls(faults.GetRange) != 2 {
		t.Errorf("Calls: get_range=%d, want 2", f.Calls(faults.GetRange))
	}
}

func TestRules(t *testing.T) {
	ctx := context.Background()
	f := faults.New(remote.NewMemory())
	f.Store.Put(ctx, "k", []byte("0123456789"), remote.PutOptions{})
	boom := errors.New("boom")

	get := func() error { _, _, err := f.Get(ctx, "k"); return err }
	f.Inject(faults.Get, faults.Fail(boom).Nth(2))
	for i, want := range []error{nil, boom, nil} {
		if err := get(); !errors.Is(err, want) && !(err == nil && want == nil) {
			t.Errorf("Nth(2): call %d: %v, want %v", i+1, err, want)
		}
	}
	f.Clear()
	f.Inject(faults.Get, faults.Fail(faults.ErrServer).Times(2))
	for i, want := range []bool{true, true, false} {
		if err := get(); (err != nil) != want || (err != nil && !remote.IsTransient(err)) {
			t.Errorf("Times(2): call %d: %v", i+1, err)
		}
	}
	f.Clear()
	f.Inject(faults.Get, faults.Truncate(4))
	if got, _, err := f.Get(ctx, "k"); err != nil || string(got) != "0123" {
		t.Errorf("Truncate(4): %q, %v", got, err)
	}
	f.Clear()
	f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).If(faults.KeyPrefix("lost/")))
	if _, err := f.Put(ctx, "lost/x", []byte("v"), remote.PutOptions{}); !remote.IsTransient(err) {
		t.Errorf("LoseResponse: %v", err)
	}
	if _, err := f.Store.Stat(ctx, "lost/x"); err != nil {
		t.Errorf("LoseResponse did not apply the put: %v", err)
	}
	if _, err := f.Put(ctx, "kept/x", []byte("v"), remote.PutOptions{}); err != nil {
		t.Errorf("If(KeyPrefix): rule fired for another key: %v", err)
	}
	f.Clear()
	f.Inject(faults.Any, faults.Delay(50*time.Millisecond))
	start := time.Now()
	f.Stat(ctx, "k")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("Delay: call took %s", d)
	}
	f.Clear()
	f.Inject(faults.Stat, faults.Hang())
	hctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := f.Stat(hctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hang: %v", err)
	}
	if f.Calls(faults.Get) != 7 || f.Calls(faults.Any) != 11 {
		t.Errorf("Calls: get=%d any=%d, want 7 and 11", f.Calls(faults.Get), f.Calls(faults.Any))
	}
}

// TestGate: a Wait rule holds calls until the gate opens, tells the test
// when the first one arrived, and combines with a deciding rule.
func TestGate(t *testing.T) {
	ctx := context.Background()
	f := faults.New(remote.NewMemory())
	g := faults.NewGate()
	f.Inject(faults.Put, faults.Wait(g).If(faults.KeyPrefix("held/")))
	f.Inject(faults.Put, faults.Fail(faults.ErrServer).If(faults.KeyPrefix("held/fail")))
	if _, err := f.Put(ctx, "free", []byte("v"), remote.PutOptions{}); err != nil {
		t.Fatalf("a call the gate does not match: %v", err)
	}
	done := make(chan error, 2)
	go func() { _, err := f.Put(ctx, "held/ok", []byte("v"), remote.PutOptions{}); done <- err }()
	go func() { _, err := f.Put(ctx, "held/fail", []byte("v"), remote.PutOptions{}); done <- err }()
	<-g.Arrived()
	for g.Held() < 2 {
		runtime.Gosched()
	}
	if _, err := f.Store.Stat(ctx, "held/ok"); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("a held put reached the store: %v", err)
	}
	g.Open()
	errs := []error{<-done, <-done}
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("after Open: %v; want one success and the injected failure", errs)
	}
	if _, err := f.Store.Stat(ctx, "held/ok"); err != nil {
		t.Errorf("the held put did not land after Open: %v", err)
	}
	g2 := faults.NewGate()
	f.Inject(faults.Stat, faults.Wait(g2))
	cctx, cancel := context.WithCancel(ctx)
	go func() { <-g2.Arrived(); cancel() }()
	if _, err := f.Stat(cctx, "free"); !errors.Is(err, context.Canceled) {
		t.Errorf("a held call whose context ends: %v", err)
	}
}
