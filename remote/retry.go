package remote

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"
)

// RetryOptions configure WithRetry. The zero value means 6 attempts with
// delays of about 100ms, 200ms, 400ms ... capped at 5s, with full jitter.
type RetryOptions struct {
	// MaxAttempts is the number of tries per call, the first included.
	// 0 means 6; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the delay before the second try (0: 100ms); it doubles
	// after each try up to MaxDelay (0: 5s).
	BaseDelay, MaxDelay time.Duration
	// Logger receives a warning for each retried failure; nil is silent.
	Logger *slog.Logger
}

// Retry is a Store wrapper that resends calls failing with a transient
// error (IsTransient) with exponential backoff and jitter. It never waits
// past the context's deadline: when the next try could not start in time it
// returns the last error at once.
//
// Conditional puts are not resent blindly. If a try failed transiently its
// request may still have been applied, so a later try that is refused
// with ErrPrecondition reads the key back: if it holds exactly the bytes
// sent, the earlier try won and Put succeeds with the current ETag.
// Conditional objects should therefore hold content unique to the writer
// (a device id, a counter), which sealfs's lease and head objects do.
//
// List resumes after the last key delivered, so fn sees every key once.
type Retry struct {
	Store
	opts RetryOptions
}

// WithRetry wraps s.
func WithRetry(s Store, opts RetryOptions) *Retry {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 6
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 100 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 5 * time.Second
	}
	return &Retry{Store: s, opts: opts}
}

// Options are r's retry options.
func (r *Retry) Options() RetryOptions { return r.opts }

// stopError carries an error of the caller's List callback past the retry
// loop untouched.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }

// CallRetry changes what a Retry store does for the calls made with a
// context from WithCallRetry. It is the one way the rest of sealfs asks
// for more persistence than the store's RetryOptions: a call that must go
// on until its context ends (a staged object's upload, an fsync's commit)
// says so here instead of wrapping the store in another retry loop, so
// that no request is ever tried attempts × attempts times.
type CallRetry struct {
	// Persist retries transient failures until the context ends, however
	// many attempts that takes (RetryOptions.MaxAttempts does not apply).
	Persist bool
	// AttemptTimeout, if positive, bounds each attempt, so that a request
	// that hangs is abandoned and sent again.
	AttemptTimeout time.Duration
	// MaxDelay, if positive, caps the backoff instead of
	// RetryOptions.MaxDelay.
	MaxDelay time.Duration
	// MaxAttempts, if positive, replaces RetryOptions.MaxAttempts (1: no
	// retry, for a call whose caller has a better fallback than waiting).
	MaxAttempts int
	// OnRetry, if set, is called with each transient failure before the
	// next attempt (for example to note that the store is down).
	OnRetry func(error)
}

type callRetryKey struct{}

// WithCallRetry returns ctx carrying c for the Retry stores it reaches.
func WithCallRetry(ctx context.Context, c CallRetry) context.Context {
	return context.WithValue(ctx, callRetryKey{}, c)
}

// do runs f until it succeeds, fails permanently, runs out of attempts or
// the context cannot afford the next delay.
func (r *Retry) do(ctx context.Context, op, key string, f func(context.Context) error) error {
	call, _ := ctx.Value(callRetryKey{}).(CallRetry)
	maxDelay := r.opts.MaxDelay
	if call.MaxDelay > 0 {
		maxDelay = call.MaxDelay
	}
	delay := min(r.opts.BaseDelay, maxDelay)
	for attempt := 1; ; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if call.AttemptTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, call.AttemptTimeout)
		}
		err := f(actx)
		if err != nil && ctx.Err() == nil && actx.Err() != nil {
			// This attempt timed out, not the call: send it again.
			err = fmt.Errorf("%w: no answer within %v (%v)", ErrTransient, call.AttemptTimeout, err)
		}
		cancel()
		var stop stopError
		if errors.As(err, &stop) {
			return stop.err
		}
		if !IsTransient(err) {
			return err
		}
		if attempt >= cmp.Or(call.MaxAttempts, r.opts.MaxAttempts) && !call.Persist {
			return fmt.Errorf("remote: %s %q: giving up after %d attempts: %w", op, key, attempt, err)
		}
		if call.OnRetry != nil {
			call.OnRetry(err)
		}
		sleep := delay/2 + rand.N(delay/2+1) // jitter in [d/2, d]
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < sleep {
			return fmt.Errorf("remote: %s %q: giving up after %d attempts, the deadline is too near for another: %w", op, key, attempt, err)
		}
		if r.opts.Logger != nil {
			r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "remote: retrying", slog.String("op", op),
				slog.String("key", key), slog.Int("attempt", attempt), slog.Duration("backoff", sleep), slog.Any("err", err))
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("remote: %s %q: %w (last error: %v)", op, key, ctx.Err(), err)
		case <-t.C:
		}
		delay = min(delay*2, maxDelay)
	}
}

// Put retries; see the type comment for conditional puts.
func (r *Retry) Put(ctx context.Context, key string, data []byte, opts PutOptions) (string, error) {
	cond := opts.IfNoneMatch || opts.IfMatch != ""
	var etag string
	mayHaveLanded := false
	err := r.do(ctx, "put", key, func(ctx context.Context) error {
		var err error
		etag, err = r.Store.Put(ctx, key, data, opts)
		if cond && mayHaveLanded && errors.Is(err, ErrPrecondition) {
			return r.checkLanded(ctx, key, data, &etag, err)
		}
		if IsTransient(err) {
			mayHaveLanded = true
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return etag, nil
}

// checkLanded decides whether an earlier try of a conditional put wrote
// data: then the put succeeded.
func (r *Retry) checkLanded(ctx context.Context, key string, data []byte, etag *string, refused error) error {
	got, info, err := r.Store.Get(ctx, key)
	switch {
	case err == nil && bytes.Equal(got, data):
		*etag = info.ETag
		return nil
	case IsTransient(err):
		return err // try the whole put again
	}
	return refused
}

func (r *Retry) Get(ctx context.Context, key string) (data []byte, info ObjectInfo, err error) {
	err = r.do(ctx, "get", key, func(ctx context.Context) error {
		data, info, err = r.Store.Get(ctx, key)
		return err
	})
	return data, info, err
}

func (r *Retry) GetRange(ctx context.Context, key string, off, n int64) (data []byte, err error) {
	err = r.do(ctx, "get", key, func(ctx context.Context) error {
		data, err = r.Store.GetRange(ctx, key, off, n)
		return err
	})
	return data, err
}

// OpenRange retries opening the range; the caller reads it again if the
// body breaks.
func (r *Retry) OpenRange(ctx context.Context, key string, off, n int64) (rc io.ReadCloser, size int64, err error) {
	err = r.do(ctx, "get", key, func(ctx context.Context) error {
		rc, size, err = r.Store.OpenRange(ctx, key, off, n)
		return err
	})
	return rc, size, err
}

func (r *Retry) Stat(ctx context.Context, key string) (info ObjectInfo, err error) {
	err = r.do(ctx, "stat", key, func(ctx context.Context) error {
		info, err = r.Store.Stat(ctx, key)
		return err
	})
	return info, err
}

// List resumes after the last delivered key when a page fails.
func (r *Retry) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	last, started := "", false
	return r.do(ctx, "list", prefix, func(ctx context.Context) error {
		return r.Store.List(ctx, prefix, func(oi ObjectInfo) error {
			if started && oi.Key <= last {
				return nil
			}
			if err := fn(oi); err != nil {
				return stopError{err}
			}
			last, started = oi.Key, true
			return nil
		})
	})
}

func (r *Retry) Delete(ctx context.Context, key string) error {
	return r.do(ctx, "delete", key, func(ctx context.Context) error { return r.Store.Delete(ctx, key) })
}

func (r *Retry) DeleteMany(ctx context.Context, keys []string) error {
	return r.do(ctx, "delete", fmt.Sprintf("%d keys", len(keys)), func(ctx context.Context) error { return r.Store.DeleteMany(ctx, keys) })
}
