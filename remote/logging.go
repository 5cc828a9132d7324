package remote

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

// Logging is a Store wrapper that logs every call with log/slog: the
// operation, key, size, duration and error — never object contents.
// Successful calls and the expected outcomes ErrNotFound and
// ErrPrecondition are logged at debug level, other failures as warnings.
type Logging struct {
	Store
	log *slog.Logger
}

// WithLogging wraps s; a nil logger uses slog.Default().
func WithLogging(s Store, log *slog.Logger) *Logging {
	if log == nil {
		log = slog.Default()
	}
	return &Logging{Store: s, log: log.With(slog.String("store", s.String()))}
}

func (l *Logging) done(ctx context.Context, op, key string, start time.Time, err error, attrs ...slog.Attr) {
	level := slog.LevelDebug
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrPrecondition) {
		level = slog.LevelWarn
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs = append(attrs, slog.String("key", key), slog.Duration("dur", time.Since(start)))
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	l.log.LogAttrs(ctx, level, "remote "+op, attrs...)
}

func (l *Logging) Put(ctx context.Context, key string, data []byte, opts PutOptions) (string, error) {
	t := time.Now()
	etag, err := l.Store.Put(ctx, key, data, opts)
	l.done(ctx, "put", key, t, err, slog.Int("size", len(data)),
		slog.Bool("if_none_match", opts.IfNoneMatch), slog.Bool("if_match", opts.IfMatch != ""))
	return etag, err
}

func (l *Logging) Get(ctx context.Context, key string) ([]byte, ObjectInfo, error) {
	t := time.Now()
	data, info, err := l.Store.Get(ctx, key)
	l.done(ctx, "get", key, t, err, slog.Int("size", len(data)))
	return data, info, err
}

func (l *Logging) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	t := time.Now()
	data, err := l.Store.GetRange(ctx, key, off, n)
	l.done(ctx, "get_range", key, t, err, slog.Int64("off", off), slog.Int("size", len(data)))
	return data, err
}

// OpenRange logs the opening of the range (the body is read later).
func (l *Logging) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	t := time.Now()
	rc, size, err := l.Store.OpenRange(ctx, key, off, n)
	l.done(ctx, "get_range", key, t, err, slog.Int64("off", off), slog.Int64("size", size))
	return rc, size, err
}

func (l *Logging) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	t := time.Now()
	info, err := l.Store.Stat(ctx, key)
	l.done(ctx, "stat", key, t, err, slog.Int64("size", info.Size))
	return info, err
}

func (l *Logging) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	t := time.Now()
	n := 0
	var stop error
	err := l.Store.List(ctx, prefix, func(oi ObjectInfo) error { n++; stop = fn(oi); return stop })
	logged := err
	if stop != nil && errors.Is(err, stop) {
		logged = nil // the caller stopped the listing: not a store failure
	}
	l.done(ctx, "list", prefix, t, logged, slog.Int("keys", n))
	return err
}

func (l *Logging) Delete(ctx context.Context, key string) error {
	t := time.Now()
	err := l.Store.Delete(ctx, key)
	l.done(ctx, "delete", key, t, err)
	return err
}

func (l *Logging) DeleteMany(ctx context.Context, keys []string) error {
	t := time.Now()
	err := l.Store.DeleteMany(ctx, keys)
	l.done(ctx, "delete_many", "", t, err, slog.Int("keys", len(keys)))
	return err
}
