package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

func testPutGet(t *testing.T, s remote.Store) {
	data := pattern(1, 16<<10)
	etag := put(t, s, "data/ab/object1", data)
	info := mustGet(t, s, "data/ab/object1", data)
	if info.ETag != etag {
		t.Errorf("get ETag %q, put returned %q", info.ETag, etag)
	}
	if info.ModTime.IsZero() {
		t.Error("get returned a zero ModTime")
	}
}

func testEmpty(t *testing.T, s remote.Store) {
	put(t, s, "empty", []byte{})
	mustGet(t, s, "empty", []byte{})
	got, err := s.GetRange(ctxT(t), "empty", 0, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("range of empty object: %q, %v; want empty, nil", got, err)
	}
	if info, err := s.Stat(ctxT(t), "empty"); err != nil || info.Size != 0 {
		t.Fatalf("stat empty object: %+v, %v", info, err)
	}
}

func testLarge(t *testing.T, s remote.Store) {
	data := pattern(3, 8<<20)
	put(t, s, "big", data)
	mustGet(t, s, "big", data)
}

func testOverwrite(t *testing.T, s remote.Store) {
	e1 := put(t, s, "k", []byte("first version"))
	e2 := put(t, s, "k", []byte("second, longer version"))
	if e1 == e2 {
		t.Errorf("different content kept ETag %q", e1)
	}
	mustGet(t, s, "k", []byte("second, longer version"))
	e3 := put(t, s, "k", []byte("3"))
	mustGet(t, s, "k", []byte("3"))
	if e3 == e2 {
		t.Errorf("different content kept ETag %q", e2)
	}
}

func testMissing(t *testing.T, s remote.Store) {
	ctx := ctxT(t)
	_, _, err := s.Get(ctx, "no/such/key")
	wantErr(t, "get missing", err, remote.ErrNotFound)
	_, err = s.GetRange(ctx, "no/such/key", 0, 10)
	wantErr(t, "range of missing", err, remote.ErrNotFound)
	_, err = s.GetRange(ctx, "no/such/key", 0, 0)
	wantErr(t, "empty range of missing", err, remote.ErrNotFound)
	_, err = s.Stat(ctx, "no/such/key")
	wantErr(t, "stat missing", err, remote.ErrNotFound)
	if err := s.Delete(ctx, "no/such/key"); err != nil {
		t.Errorf("delete missing: %v, want nil", err)
	}
	// A key that is a proper prefix of another key is still missing.
	put(t, s, "dir/file", []byte("x"))
	_, _, err = s.Get(ctx, "dir")
	wantErr(t, "get of a key prefix", err, remote.ErrNotFound)
	if err := s.Delete(ctx, "dir"); err != nil {
		t.Errorf("delete of a key prefix: %v, want nil", err)
	}
	mustGet(t, s, "dir/file", []byte("x"))
}

func testInvalidKeys(t *testing.T, s remote.Store) {
	for _, key := range []string{"", "/abs", "a//b", "../up", "a/../b", "a/./b", ".", "a/", `a\b`} {
		if _, err := s.Put(ctxT(t), key, []byte("x"), remote.PutOptions{}); err == nil {
			t.Errorf("put of invalid key %q succeeded", key)
		}
	}
	if got := listAll(t, s, ""); len(got) != 0 {
		t.Errorf("invalid puts left keys %v", keysOf(got))
	}
}

func testDeepKeys(t *testing.T, s remote.Store) {
	deep := "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p"
	put(t, s, deep, []byte("deep"))
	put(t, s, "a/b/sibling", []byte("sib"))
	mustGet(t, s, deep, []byte("deep"))
	if got := keysOf(listAll(t, s, "a/b/c/d/")); !slices.Equal(got, []string{deep}) {
		t.Fatalf("list a/b/c/d/ = %v", got)
	}
	if err := s.Delete(ctxT(t), deep); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(listAll(t, s, "")); !slices.Equal(got, []string{"a/b/sibling"}) {
		t.Fatalf("after delete, list = %v", got)
	}
	put(t, s, deep, []byte("again")) // parents may have been pruned
	mustGet(t, s, deep, []byte("again"))
}

func testCreateOnly(t *testing.T, s remote.Store) {
	ctx := ctxT(t)
	etag, err := s.Put(ctx, "lease", []byte("device A"), remote.PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("create-only on a new key: %v", err)
	}
	_, err = s.Put(ctx, "lease", []byte("device B"), remote.PutOptions{IfNoneMatch: true})
	wantErr(t, "second create-only", err, remote.ErrPrecondition)
	if info := mustGet(t, s, "lease", []byte("device A")); info.ETag != etag {
		t.Errorf("ETag %q after refused put, want %q", info.ETag, etag)
	}
	if err := s.Delete(ctx, "lease"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "lease", []byte("device B"), remote.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("create-only after delete: %v", err)
	}
}

func testCAS(t *testing.T, s remote.Store) {
	ctx := ctxT(t)
	e1 := put(t, s, "head", []byte("commit 1"))
	e2, err := s.Put(ctx, "head", []byte("commit 2"), remote.PutOptions{IfMatch: e1})
	if err != nil {
		t.Fatalf("CAS with the current ETag: %v", err)
	}
	if e2 == e1 {
		t.Errorf("CAS kept ETag %q", e1)
	}
	_, err = s.Put(ctx, "head", []byte("commit 2b"), remote.PutOptions{IfMatch: e1})
	wantErr(t, "CAS with a stale ETag", err, remote.ErrPrecondition)
	_, err = s.Put(ctx, "head", []byte("commit 2c"), remote.PutOptions{IfMatch: "not-an-etag"})
	wantErr(t, "CAS with a made-up ETag", err, remote.ErrPrecondition)
	_, err = s.Put(ctx, "no-head", []byte("x"), remote.PutOptions{IfMatch: e2})
	wantErr(t, "CAS on a missing key", err, remote.ErrPrecondition)
	if _, err := s.Stat(ctx, "no-head"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("refused CAS on a missing key created it: stat err %v", err)
	}
	if info := mustGet(t, s, "head", []byte("commit 2")); info.ETag != e2 {
		t.Errorf("ETag %q, want %q", info.ETag, e2)
	}
}

func testRefusedUnchanged(t *testing.T, s remote.Store) {
	ctx := ctxT(t)
	data := pattern(9, 100_000)
	etag := put(t, s, "obj", data)
	s.Put(ctx, "obj", []byte("no"), remote.PutOptions{IfNoneMatch: true})
	s.Put(ctx, "obj", []byte("no"), remote.PutOptions{IfMatch: otherETag(etag)})
	if info := mustGet(t, s, "obj", data); info.ETag != etag {
		t.Errorf("ETag changed to %q by refused puts, want %q", info.ETag, etag)
	}
}

// otherETag is a made-up ETag of etag's length that differs in its last
// character: IfMatch values are ETags the store reported, and Ceph RGW
// compares them by prefix (it accepts etag + "x").
func otherETag(etag string) string {
	last := etag[len(etag)-1]
	if last == '0' {
		return etag[:len(etag)-1] + "1"
	}
	return etag[:len(etag)-1] + "0"
}

func testRanges(t *testing.T, s remote.Store) {
	const size = 100_000
	data := pattern(5, size)
	put(t, s, "r", data)
	cases := []struct {
		name   string
		off, n int64
		want   []byte
	}{
		{"first byte", 0, 1, data[:1]},
		{"head", 0, 4096, data[:4096]},
		{"middle", 12345, 6789, data[12345 : 12345+6789]},
		{"last byte", size - 1, 1, data[size-1:]},
		{"tail exactly", size - 100, 100, data[size-100:]},
		{"clipped at end", size - 100, 1000, data[size-100:]},
		{"whole", 0, size, data},
		{"more than whole", 0, size * 3, data},
		{"zero length", 10, 0, []byte{}},
		{"starts at end", size, 10, []byte{}},
		{"starts past end", size + 5000, 10, []byte{}},
		{"huge n", 99_000, 1<<63 - 1, data[99_000:]},
	}
	for _, c := range cases {
		got, err := s.GetRange(ctxT(t), "r", c.off, c.n)
		if err != nil {
			t.Errorf("%s (off=%d n=%d): %v", c.name, c.off, c.n, err)
			continue
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s (off=%d n=%d): %s, want %s", c.name, c.off, c.n, describe(got), describe(c.want))
		}
	}
	for _, bad := range [][2]int64{{-1, 10}, {0, -1}} {
		if _, err := s.GetRange(ctxT(t), "r", bad[0], bad[1]); err == nil {
			t.Errorf("range off=%d n=%d: no error", bad[0], bad[1])
		}
	}
}

// testOpenRange: OpenRange streams what GetRange returns, with its count.
func testOpenRange(t *testing.T, s remote.Store) {
	const size = 100_000
	data := pattern(6, size)
	put(t, s, "r", data)
	put(t, s, "empty", []byte{})
	cases := []struct {
		name   string
		key    string
		off, n int64
		want   []byte
	}{
		{"first byte", "r", 0, 1, data[:1]},
		{"middle", "r", 12345, 6789, data[12345 : 12345+6789]},
		{"last byte", "r", size - 1, 1, data[size-1:]},
		{"clipped at end", "r", size - 100, 1000, data[size-100:]},
		{"whole", "r", 0, size, data},
		{"more than whole", "r", 0, size * 3, data},
		{"huge n", "r", 99_000, 1<<63 - 1, data[99_000:]},
		{"zero length", "r", 10, 0, []byte{}},
		{"starts at end", "r", size, 10, []byte{}},
		{"starts past end", "r", size + 5000, 10, []byte{}},
		{"empty object", "empty", 0, 10, []byte{}},
	}
	for _, c := range cases {
		rc, n, err := s.OpenRange(ctxT(t), c.key, c.off, c.n)
		if err != nil {
			t.Errorf("%s (off=%d n=%d): %v", c.name, c.off, c.n, err)
			continue
		}
		got, err := io.ReadAll(rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil || n != int64(len(c.want)) || !bytes.Equal(got, c.want) {
			t.Errorf("%s (off=%d n=%d): count %d, read %s, %v; want %d, %s", c.name, c.off, c.n, n, describe(got), err, len(c.want), describe(c.want))
		}
	}
	for _, bad := range [][2]int64{{-1, 10}, {0, -1}} {
		if rc, _, err := s.OpenRange(ctxT(t), "r", bad[0], bad[1]); err == nil {
			rc.Close()
			t.Errorf("range off=%d n=%d: no error", bad[0], bad[1])
		}
	}
	_, _, err := s.OpenRange(ctxT(t), "no/such/key", 0, 10)
	wantErr(t, "open range of missing", err, remote.ErrNotFound)
	_, _, err = s.OpenRange(ctxT(t), "no/such/key", 0, 0)
	wantErr(t, "open empty range of missing", err, remote.ErrNotFound)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = s.OpenRange(ctx, "r", 0, 10)
	wantErr(t, "open range with cancelled context", err, context.Canceled)
}

func testInfoAgrees(t *testing.T, s remote.Store) {
	etag := put(t, s, "x/one", pattern(1, 777))
	st, err := s.Stat(ctxT(t), "x/one")
	if err != nil {
		t.Fatal(err)
	}
	_, gi, err := s.Get(ctxT(t), "x/one")
	if err != nil {
		t.Fatal(err)
	}
	li := listAll(t, s, "x/")
	if len(li) != 1 {
		t.Fatalf("list: %v", keysOf(li))
	}
	for name, oi := range map[string]remote.ObjectInfo{"stat": st, "get": gi, "list": li[0]} {
		if oi.Key != "x/one" || oi.Size != 777 || oi.ETag != etag || oi.ModTime.IsZero() {
			t.Errorf("%s info %+v, want key x/one size 777 etag %q and a ModTime", name, oi, etag)
		}
	}
}

func testListOrder(t *testing.T, s remote.Store) {
	// No key is a directory of another ("a/b" beside "a/b/c"): see Store.
	keys := []string{"a-c", "a.b", "a/b-c/d", "a/b/c", "a/b0", "a0", "ab", "b", "data/0f/x", "data/ff/y", "z/z/z"}
	for i, k := range slices.Backward(keys) {
		put(t, s, k, []byte(fmt.Sprint(i)))
	}
	if got := keysOf(listAll(t, s, "")); !slices.Equal(got, keys) {
		t.Errorf("list all = %v\nwant %v", got, keys)
	}
	for prefix, want := range map[string][]string{
		"a/":     {"a/b-c/d", "a/b/c", "a/b0"},
		"a/b":    {"a/b-c/d", "a/b/c", "a/b0"},
		"a/b/":   {"a/b/c"},
		"data/":  {"data/0f/x", "data/ff/y"},
		"data/f": {"data/ff/y"},
		"a":      {"a-c", "a.b", "a/b-c/d", "a/b/c", "a/b0", "a0", "ab"},
		"nope/":  nil,
		"zz":     nil,
	} {
		if got := keysOf(listAll(t, s, prefix)); !slices.Equal(got, want) {
			t.Errorf("list %q = %v, want %v", prefix, got, want)
		}
	}
}

func testListStop(t *testing.T, s remote.Store) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("k%d", i), []byte("x"))
	}
	stop := errors.New("enough")
	n := 0
	err := s.List(ctxT(t), "", func(remote.ObjectInfo) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("list returned %v after %d calls; want the callback's error after 2", err, n)
	}
}

func testListCancel(t *testing.T, s remote.Store) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("k%d", i), []byte("x"))
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	n := 0
	err := s.List(ctx, "", func(remote.ObjectInfo) error {
		n++
		if n == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > 2 {
		t.Fatalf("list returned %v after %d calls; want context.Canceled after 2", err, n)
	}
}

func testDelete(t *testing.T, s remote.Store) {
	put(t, s, "d/1", []byte("1"))
	put(t, s, "d/2", []byte("2"))
	if err := s.Delete(ctxT(t), "d/1"); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Get(ctxT(t), "d/1")
	wantErr(t, "get after delete", err, remote.ErrNotFound)
	if err := s.Delete(ctxT(t), "d/1"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if got := keysOf(listAll(t, s, "")); !slices.Equal(got, []string{"d/2"}) {
		t.Errorf("list after delete = %v", got)
	}
}

func testCancelled(t *testing.T, s remote.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Put(ctx, "c", []byte("x"), remote.PutOptions{})
	wantErr(t, "put with cancelled context", err, context.Canceled)
	_, _, err = s.Get(ctx, "c")
	wantErr(t, "get with cancelled context", err, context.Canceled)
	if _, err := s.Stat(ctxT(t), "c"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("cancelled put stored the key (stat: %v)", err)
	}
}

func testSelfTest(t *testing.T, s remote.Store) {
	if err := remote.SelfTestConditional(ctxT(t), s); err != nil {
		t.Fatalf("self-test: %v", err)
	}
	if left := listAll(t, s, ""); len(left) != 0 {
		t.Errorf("self-test left %v behind", keysOf(left))
	}
}
