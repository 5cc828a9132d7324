package faults

import (
	"context"
	"errors"

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

// GetRangeInto is decided by the rules for GetRange (it is the same request).
func (f *Store) GetRangeInto(ctx context.Context, key string, off int64, dst []byte) (int, error) {
	p := f.plan(Call{Op: GetRange, Key: key})
	if err := p.before(ctx); err != nil {
		return 0, err
	}
	n, err := f.Store.GetRangeInto(ctx, key, off, dst)
	if err = p.after(err); err != nil {
		return 0, err
	}
	return len(p.truncate(dst[:n])), nil
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
