package faults

import (
	"context"
	"errors"
	"io"

	"github.com/sealfs/sealfs/remote"
)

var _ remote.Store = (*Store)(nil)

func (f *Store) Put(ctx context.Context, key string, data []byte, opts remote.PutOptions) (string, error) {
	p := f.plan(Call{Op: Put, Key: key, Size: len(data), Opts: opts})
	if err := p.before(ctx); err != nil {
		return "", err
	}
	etag, err := f.Store.Put(ctx, key, data, opts)
	if err = p.after(err); err != nil {
		return "", err
	}
	return etag, nil
}

func (f *Store) Get(ctx context.Context, key string) ([]byte, remote.ObjectInfo, error) {
	p := f.plan(Call{Op: Get, Key: key})
	if err := p.before(ctx); err != nil {
		return nil, remote.ObjectInfo{}, err
	}
	data, info, err := f.Store.Get(ctx, key)
	if err = p.after(err); err != nil {
		return nil, remote.ObjectInfo{}, err
	}
	return p.truncate(data), info, nil
}

func (f *Store) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	p := f.plan(Call{Op: GetRange, Key: key})
	if err := p.before(ctx); err != nil {
		return nil, err
	}
	data, err := f.Store.GetRange(ctx, key, off, n)
	if err = p.after(err); err != nil {
		return nil, err
	}
	return p.truncate(data), nil
}

// OpenRange is decided by the rules for GetRange (it is the same request);
// Truncate shortens the stream and its count alike.
func (f *Store) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	p := f.plan(Call{Op: GetRange, Key: key})
	if err := p.before(ctx); err != nil {
		return nil, 0, err
	}
	rc, size, err := f.Store.OpenRange(ctx, key, off, n)
	if err = p.after(err); err != nil {
		if rc != nil {
			rc.Close()
		}
		return nil, 0, err
	}
	if p.out != nil && p.out.kind == kindTruncate && size > int64(p.out.n) {
		size = int64(p.out.n)
		rc = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(rc, size), rc}
	}
	return rc, size, nil
}

func (f *Store) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	p := f.plan(Call{Op: Stat, Key: key})
	if err := p.before(ctx); err != nil {
		return remote.ObjectInfo{}, err
	}
	info, err := f.Store.Stat(ctx, key)
	if err = p.after(err); err != nil {
		return remote.ObjectInfo{}, err
	}
	return info, nil
}

func (f *Store) List(ctx context.Context, prefix string, fn func(remote.ObjectInfo) error) error {
	p := f.plan(Call{Op: List, Key: prefix})
	if err := p.before(ctx); err != nil {
		return err
	}
	if p.out == nil || p.out.kind != kindListAfter {
		return p.after(f.Store.List(ctx, prefix, fn))
	}
	n := 0
	err := f.Store.List(ctx, prefix, func(oi remote.ObjectInfo) error {
		if n == p.out.n {
			return errStopList
		}
		n++
		return fn(oi)
	})
	if err == errStopList || err == nil {
		return p.out.err
	}
	return err
}

var errStopList = errors.New("faults: list stopped")

func (f *Store) Delete(ctx context.Context, key string) error {
	p := f.plan(Call{Op: Delete, Key: key})
	if err := p.before(ctx); err != nil {
		return err
	}
	return p.after(f.Store.Delete(ctx, key))
}

func (f *Store) DeleteMany(ctx context.Context, keys []string) error {
	p := f.plan(Call{Op: DeleteMany})
	if err := p.before(ctx); err != nil {
		return err
	}
	return p.after(f.Store.DeleteMany(ctx, keys))
}
