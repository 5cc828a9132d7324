package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// parallel runs fn(i) for i in [0,n) on 16 goroutines.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		first atomic.Value
	)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		t.Fatal(err)
	}
}

func testListMany(t *testing.T, s remote.Store) {
	const n = 3000 // three S3 pages of 1,000
	key := func(i int) string { return fmt.Sprintf("data/%02x/%05d", i%7, i) }
	parallel(t, n, func(i int) error {
		_, err := s.Put(ctxT(t), key(i), []byte(strconv.Itoa(i)), remote.PutOptions{})
		return err
	})
	put(t, s, "other/x", []byte("not listed under data/"))
	got := listAll(t, s, "data/")
	if len(got) != n {
		t.Fatalf("listed %d keys, want %d", len(got), n)
	}
	seen := make(map[string]bool, n)
	for i, oi := range got {
		if i > 0 && got[i-1].Key >= oi.Key {
			t.Fatalf("list out of order: %q before %q", got[i-1].Key, oi.Key)
		}
		seen[oi.Key] = true
		var idx int
		fmt.Sscanf(oi.Key[len("data/xx/"):], "%d", &idx)
		if oi.Size != int64(len(strconv.Itoa(idx))) || oi.ETag == "" {
			t.Fatalf("key %q: size %d etag %q", oi.Key, oi.Size, oi.ETag)
		}
	}
	for i := range n {
		if !seen[key(i)] {
			t.Fatalf("key %q not listed", key(i))
		}
	}
}

func testDeleteMany(t *testing.T, s remote.Store) {
	const n = 1500 // two S3 multi-delete batches
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("del/%04d", i)
	}
	parallel(t, n, func(i int) error {
		_, err := s.Put(ctxT(t), keys[i], []byte("x"), remote.PutOptions{})
		return err
	})
	put(t, s, "keep", []byte("k"))
	if err := s.DeleteMany(ctxT(t), append(keys, "del/missing-one")); err != nil {
		t.Fatalf("delete many: %v", err)
	}
	if got := keysOf(listAll(t, s, "")); len(got) != 1 || got[0] != "keep" {
		t.Fatalf("after delete many, %d keys left: %.5v", len(got), got)
	}
	if err := s.DeleteMany(ctxT(t), nil); err != nil {
		t.Fatalf("delete many of nothing: %v", err)
	}
}

// testRaceCreateOnly: 8 goroutines create one key at once; one wins.
func testRaceCreateOnly(t *testing.T, s remote.Store) {
	for round := range 5 {
		key := fmt.Sprintf("lease-%d", round)
		var wins, refused atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				data := []byte(fmt.Sprintf("goroutine %d", g))
				_, err := s.Put(ctxT(t), key, data, remote.PutOptions{IfNoneMatch: true})
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(data)
				case errors.Is(err, remote.ErrPrecondition):
					refused.Add(1)
				default:
					t.Errorf("create-only: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || refused.Load() != 7 {
			t.Fatalf("round %d: %d winners, %d refused; want 1 and 7", round, wins.Load(), refused.Load())
		}
		mustGet(t, s, key, winner.Load().([]byte))
	}
}

// testRaceCAS: goroutines increment a counter with read/CAS loops; the
// final value must equal the number of successful CAS.
func testRaceCAS(t *testing.T, s remote.Store) {
	const workers, each = 4, 8
	put(t, s, "counter", []byte("0 init"))
	var wg sync.WaitGroup
	var successes atomic.Int64
	for g := range workers {
		wg.Go(func() {
			for i := 0; i < each; {
				data, info, err := s.Get(ctxT(t), "counter")
				if err != nil {
					t.Errorf("get: %v", err)
					return
				}
				v, _ := strconv.Atoi(strings.Fields(string(data))[0])
				next := fmt.Sprintf("%d by %d/%d", v+1, g, i) // unique content
				_, err = s.Put(ctxT(t), "counter", []byte(next), remote.PutOptions{IfMatch: info.ETag})
				if errors.Is(err, remote.ErrPrecondition) {
					continue
				}
				if err != nil {
					t.Errorf("cas: %v", err)
					return
				}
				successes.Add(1)
				i++
			}
		})
	}
	wg.Wait()
	data, _, err := s.Get(ctxT(t), "counter")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.Atoi(strings.Fields(string(data))[0])
	if int64(v) != successes.Load() || v != workers*each {
		t.Fatalf("counter %d after %d successful CAS, want %d", v, successes.Load(), workers*each)
	}
}

// testAtomicVisibility: while one object is rewritten with two contents
// of different sizes, every read sees one of them whole.
func testAtomicVisibility(t *testing.T, s remote.Store) {
	a, b := bytes.Repeat([]byte{0xAA}, 1<<20), bytes.Repeat([]byte{0xBB}, 3<<19)
	put(t, s, "atomic", a)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer stop.Store(true)
		for i := range 20 {
			if _, err := s.Put(ctxT(t), "atomic", [][]byte{b, a}[i%2], remote.PutOptions{}); err != nil {
				t.Errorf("put: %v", err)
				return
			}
		}
	})
	reads := atomic.Int64{}
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				got, info, err := s.Get(ctxT(t), "atomic")
				if err != nil {
					t.Errorf("get: %v", err)
					return
				}
				if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
					t.Errorf("read a mix: %s", describe(got))
					return
				}
				if info.Size != int64(len(got)) {
					t.Errorf("info size %d for %d bytes", info.Size, len(got))
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d whole reads during 20 rewrites", reads.Load())
}
