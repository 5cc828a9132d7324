package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// Run runs every contract case against stores made by newStore. Each store
// first passes remote.SelfTestConditional, as sealfs requires before it
// writes conditionally (for S3 that also chooses the If-Match form).
func Run(t *testing.T, newStore func(t *testing.T) remote.Store) {
	cases := []struct {
		name string
		fn   func(*testing.T, remote.Store)
	}{
		{"put get", testPutGet},
		{"empty object", testEmpty},
		{"8 MiB object", testLarge},
		{"overwrite", testOverwrite},
		{"missing key", testMissing},
		{"invalid keys", testInvalidKeys},
		{"deep keys", testDeepKeys},
		{"create-only", testCreateOnly},
		{"compare-and-swap", testCAS},
		{"refused put changes nothing", testRefusedUnchanged},
		{"ranges", testRanges},
		{"ranges as streams", testOpenRange},
		{"stat agrees with get and list", testInfoAgrees},
		{"list order and prefix", testListOrder},
		{"list 3000 keys", testListMany},
		{"list stops on callback error", testListStop},
		{"list cancelled", testListCancel},
		{"delete", testDelete},
		{"delete many", testDeleteMany},
		{"cancelled context", testCancelled},
		{"self-test conditional", testSelfTest},
		{"race create-only", testRaceCreateOnly},
		{"race CAS counter", testRaceCAS},
		{"atomic visibility", testAtomicVisibility},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			if err := remote.SelfTestConditional(ctxT(t), s); err != nil {
				t.Fatalf("self-test: %v", err)
			}
			c.fn(t, s)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s remote.Store, key string, data []byte) string {
	t.Helper()
	etag, err := s.Put(ctxT(t), key, data, remote.PutOptions{})
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	if etag == "" {
		t.Fatalf("put %q returned an empty ETag", key)
	}
	return etag
}

func mustGet(t *testing.T, s remote.Store, key string, want []byte) remote.ObjectInfo {
	t.Helper()
	got, info, err := s.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("get %q: %s, want %s", key, describe(got), describe(want))
	}
	if info.Size != int64(len(want)) || info.Key != key {
		t.Fatalf("get %q: info %+v, want key %q size %d", key, info, key, len(want))
	}
	return info
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one matching %v", what, err, target)
	}
}

// pattern returns n bytes that differ with seed and position, so a shifted
// or mixed-up read cannot match.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed ^ byte(i) ^ byte(i>>8) ^ byte(i>>16)*7
	}
	return b
}

func describe(b []byte) string {
	if len(b) <= 32 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%d bytes starting %q", len(b), b[:16])
}

func listAll(t *testing.T, s remote.Store, prefix string) []remote.ObjectInfo {
	t.Helper()
	var out []remote.ObjectInfo
	if err := s.List(ctxT(t), prefix, func(oi remote.ObjectInfo) error {
		out = append(out, oi)
		return nil
	}); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return out
}

func keysOf(infos []remote.ObjectInfo) []string {
	keys := make([]string, len(infos))
	for i, oi := range infos {
		keys[i] = oi.Key
	}
	return keys
}
