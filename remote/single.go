package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// SingleWriter is a Store wrapper for a store that does not honour
// conditional writes, for when the user has promised that only one device
// writes at a time (sealfs's --single-device). It checks each condition
// itself, reading the key's current ETag with Stat, and then writes
// unconditionally. Its conditional puts are serialized, so they behave
// exactly like real ones within this process; against another process or
// device writing the same keys they do not: between the check and the
// write the other can commit, and one of the two commits is lost. That is
// the risk --single-device accepts.
type SingleWriter struct {
	Store
	mu sync.Mutex // held across the check and the write of a conditional put
}

// WithSingleWriter wraps s.
func WithSingleWriter(s Store) *SingleWriter { return &SingleWriter{Store: s} }

// Unwrap returns the wrapped store.
func (w *SingleWriter) Unwrap() Store { return w.Store }

// Put checks opts against the key's current state, then writes without
// conditions.
func (w *SingleWriter) Put(ctx context.Context, key string, data []byte, opts PutOptions) (string, error) {
	if !opts.IfNoneMatch && opts.IfMatch == "" {
		return w.Store.Put(ctx, key, data, opts)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	info, err := w.Store.Stat(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		if opts.IfMatch != "" {
			return "", fmt.Errorf("remote: put %q: key does not exist (checked by this process): %w", key, ErrPrecondition)
		}
	case err != nil:
		return "", err
	case opts.IfNoneMatch:
		return "", fmt.Errorf("remote: put %q: key exists (checked by this process): %w", key, ErrPrecondition)
	case info.ETag != opts.IfMatch:
		return "", fmt.Errorf("remote: put %q: ETag is %q, not %q (checked by this process): %w", key, info.ETag, opts.IfMatch, ErrPrecondition)
	}
	return w.Store.Put(ctx, key, data, PutOptions{})
}
