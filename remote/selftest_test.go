package remote_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// sloppy is a store that ignores some conditions, like S3 clones that
// drop If-None-Match / If-Match headers.
type sloppy struct {
	remote.Store
	ignore func(remote.PutOptions, bool) bool // (opts, key exists) -> drop the condition
}

func (s sloppy) Put(ctx context.Context, key string, data []byte, o remote.PutOptions) (string, error) {
	_, err := s.Store.Stat(ctx, key)
	if s.ignore(o, err == nil) {
		o = remote.PutOptions{}
	}
	return s.Store.Put(ctx, key, data, o)
}

func TestSelfTestDetectsIgnoredConditions(t *testing.T) {
	for _, c := range []struct {
		name   string
		ignore func(remote.PutOptions, bool) bool
		want   string
	}{
		{"If-None-Match ignored", func(o remote.PutOptions, _ bool) bool { return o.IfNoneMatch }, "second create-only put"},
		{"If-Match ignored", func(o remote.PutOptions, exists bool) bool { return o.IfMatch != "" && exists }, "wrong If-Match"},
		{"If-Match on missing key ignored", func(o remote.PutOptions, exists bool) bool { return o.IfMatch != "" && !exists }, "If-Match on a missing key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := remote.NewMemory()
			err := remote.SelfTestConditional(context.Background(), sloppy{mem, c.ignore})
			if !errors.Is(err, remote.ErrNoConditionalWrites) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("self-test: %v; want ErrNoConditionalWrites naming %q", err, c.want)
			}
			t.Logf("%v", err)
			mem.List(context.Background(), "", func(oi remote.ObjectInfo) error {
				t.Errorf("self-test left %q behind", oi.Key)
				return nil
			})
		})
	}
}

func TestSelfTestReportsStoreFailures(t *testing.T) {
	f := faults.New(remote.NewMemory())
	f.Inject(faults.Put, faults.Fail(errors.New("access denied")))
	err := remote.SelfTestConditional(context.Background(), f)
	if err == nil || errors.Is(err, remote.ErrNoConditionalWrites) || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("self-test on a failing store: %v", err)
	}
}
