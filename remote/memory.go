package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Memory is a Store held in memory, for tests.
type Memory struct {
	mu      sync.Mutex
	objects map[string]memObject
}

type memObject struct {
	data    []byte
	etag    string
	modTime time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{objects: make(map[string]memObject)} }

func newETag() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (m *Memory) Put(ctx context.Context, key string, data []byte, opts PutOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, exists := m.objects[key]
	if opts.IfNoneMatch && exists {
		return "", fmt.Errorf("remote: put %q: key exists: %w", key, ErrPrecondition)
	}
	if opts.IfMatch != "" && (!exists || cur.etag != opts.IfMatch) {
		return "", fmt.Errorf("remote: put %q: etag mismatch: %w", key, ErrPrecondition)
	}
	o := memObject{data: append([]byte(nil), data...), etag: newETag(), modTime: time.Now()}
	m.objects[key] = o
	return o.etag, nil
}

func (m *Memory) get(ctx context.Context, key string) (memObject, error) {
	if err := ctx.Err(); err != nil {
		return memObject{}, err
	}
	m.mu.Lock()
	o, ok := m.objects[key]
	m.mu.Unlock()
	if !ok {
		return memObject{}, fmt.Errorf("remote: get %q: %w", key, ErrNotFound)
	}
	return o, nil
}

func (m *Memory) Get(ctx context.Context, key string) ([]byte, ObjectInfo, error) {
	o, err := m.get(ctx, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return append([]byte(nil), o.data...), o.info(key), nil
}

func (m *Memory) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("remote: get %q: invalid range off=%d n=%d", key, off, n)
	}
	o, err := m.get(ctx, key)
	if err != nil {
		return nil, err
	}
	size := int64(len(o.data))
	if off >= size {
		return []byte{}, nil
	}
	end := off + min(n, size-off) // off+n may overflow
	return append([]byte(nil), o.data[off:end]...), nil
}

func (m *Memory) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if off < 0 || n < 0 {
		return nil, 0, fmt.Errorf("remote: get %q: invalid range off=%d n=%d", key, off, n)
	}
	o, err := m.get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	size := int64(len(o.data))
	if off >= size {
		return io.NopCloser(bytes.NewReader(nil)), 0, nil
	}
	b := o.data[off : off+min(n, size-off)] // never written: Put stores a copy
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func (m *Memory) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	o, err := m.get(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return o.info(key), nil
}

func (o memObject) info(key string) ObjectInfo {
	return ObjectInfo{Key: key, Size: int64(len(o.data)), ETag: o.etag, ModTime: o.modTime}
}

func (m *Memory) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	m.mu.Lock()
	var infos []ObjectInfo
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, o.info(k))
		}
	}
	m.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}

func (m *Memory) DeleteMany(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := m.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) String() string { return "memory:" }
func (m *Memory) Close() error   { return nil }

// checkKey rejects keys that no store can hold the same way.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "//") ||
		strings.Contains(key, "\\") || strings.Contains("/"+key+"/", "/../") || strings.Contains("/"+key+"/", "/./") {
		return fmt.Errorf("remote: invalid key %q: %w", key, errInvalidKey)
	}
	return nil
}

var errInvalidKey = errors.New("keys are relative slash-separated paths")
