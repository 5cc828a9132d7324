package remote_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
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
		{"If-None-Match ignored", func(o remote.PutOptions, _ bool) bool { return o.IfNoneMatch }, "accepted a second create-only put"},
		{"If-Match ignored", func(o remote.PutOptions, exists bool) bool { return o.IfMatch != "" && exists }, "accepted a stale ETag"},
		{"If-Match on missing key ignored", func(o remote.PutOptions, exists bool) bool { return o.IfMatch != "" && !exists }, "accepted If-Match on a missing key"},
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

// formStore is a store that, like S3, can send If-Match in two forms, and
// treats each form its own way: honours it, refuses it always (Ceph RGW's
// answer to the quoted form), or ignores it.
type formStore struct {
	remote.Store
	form atomic.Uint32
	does map[remote.IfMatchForm]string // "cas", "refuse", "ignore" or "501"
}

func (f *formStore) SetIfMatchForm(x remote.IfMatchForm) { f.form.Store(uint32(x)) }
func (f *formStore) IfMatchForm() remote.IfMatchForm     { return remote.IfMatchForm(f.form.Load()) }

func (f *formStore) Put(ctx context.Context, key string, data []byte, o remote.PutOptions) (string, error) {
	if o.IfMatch != "" {
		switch f.does[f.IfMatchForm()] {
		case "refuse":
			return "", fmt.Errorf("put %q: %w", key, remote.ErrPrecondition)
		case "ignore":
			o.IfMatch = ""
		case "501":
			return "", fmt.Errorf("put %q: HTTP 501 NotImplemented: %w", key, remote.ErrNoConditionalWrites)
		}
	}
	return f.Store.Put(ctx, key, data, o)
}

func TestSelfTestChoosesIfMatchForm(t *testing.T) {
	q, u := remote.IfMatchQuoted, remote.IfMatchUnquoted
	for _, c := range []struct {
		name         string
		quoted, bare string
		want         remote.IfMatchForm
		refusal      []string // the error names these, in order; nil: no error
	}{
		{"both honoured (MinIO)", "cas", "cas", q, nil},
		{"quoted always refused (Ceph RGW)", "refuse", "cas", u, nil},
		{"quoted ignored", "ignore", "cas", u, nil},
		{"quoted not implemented", "501", "cas", u, nil},
		{"neither: not implemented, refused", "501", "refuse", q, []string{"quoted", "does not implement the put with the current ETag as If-Match", "unquoted", "refused the current ETag"}},
		{"neither: both refused", "refuse", "refuse", q, []string{`quoted (If-Match: "<etag>"): refused the current ETag`, "unquoted (If-Match: <etag>): refused the current ETag", "Ceph RGW 16.2.15"}},
		{"neither: ignored, refused", "ignore", "refuse", q, []string{"quoted", "accepted a stale ETag", "unquoted", "refused the current ETag"}},
		{"neither: refused, ignored", "refuse", "ignore", q, []string{"quoted", "refused the current ETag", "unquoted", "accepted a stale ETag"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := remote.NewMemory()
			fs := &formStore{Store: mem, does: map[remote.IfMatchForm]string{q: c.quoted, u: c.bare}}
			fs.SetIfMatchForm(u) // the self-test must start from the quoted form
			// As mount sees it: under retry and logging wrappers.
			s := remote.WithRetry(remote.WithLogging(fs, slog.New(slog.DiscardHandler)), remote.RetryOptions{MaxAttempts: 1})
			err := remote.SelfTestConditional(context.Background(), s)
			if c.refusal == nil && err != nil {
				t.Fatalf("self-test: %v", err)
			}
			if c.refusal != nil {
				if !errors.Is(err, remote.ErrNoConditionalWrites) {
					t.Fatalf("self-test: %v; want ErrNoConditionalWrites", err)
				}
				msg, at := err.Error(), 0
				for _, part := range c.refusal {
					i := strings.Index(msg[at:], part)
					if i < 0 {
						t.Fatalf("refusal %q lacks %q after byte %d", msg, part, at)
					}
					at += i + len(part)
				}
				t.Logf("%v", err)
			}
			if got := fs.IfMatchForm(); got != c.want {
				t.Errorf("form after the self-test: %v, want %v", got, c.want)
			}
			mem.List(context.Background(), "", func(oi remote.ObjectInfo) error {
				t.Errorf("self-test left %q behind", oi.Key)
				return nil
			})
		})
	}
}

// A failure that is no answer to a condition stops the self-test: it is
// not a reason to try the other form, nor to refuse the store.
func TestSelfTestStopsOnStoreFailureInAForm(t *testing.T) {
	f := faults.New(&formStore{Store: remote.NewMemory(), does: map[remote.IfMatchForm]string{remote.IfMatchQuoted: "refuse", remote.IfMatchUnquoted: "cas"}})
	f.Inject(faults.Put, faults.Fail(errors.New("connection reset")).Nth(4))
	err := remote.SelfTestConditional(context.Background(), f)
	if err == nil || errors.Is(err, remote.ErrNoConditionalWrites) || !strings.Contains(err.Error(), "connection reset") || !strings.Contains(err.Error(), "unquoted") {
		t.Fatalf("self-test with a failing put: %v", err)
	}
	s, _ := remote.As[*formStore](f)
	if s.IfMatchForm() != remote.IfMatchQuoted {
		t.Errorf("form left at %v after a failed self-test", s.IfMatchForm())
	}
}
