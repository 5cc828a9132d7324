package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// open opens key's file for reading; a missing key (or a directory, which
// no Put creates at a key) is ErrNotFound.
func (d *Dir) open(ctx context.Context, op, key string) (*os.File, fs.FileInfo, error) {
	if err := d.checkKey(key); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("remote: %s %q: %w", op, key, err)
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil, fmt.Errorf("remote: %s %q: %w", op, key, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("remote: %s %q: %w", op, key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("remote: %s %q: %w", op, key, ErrNotFound)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("remote: %s %q: %w", op, key, err)
	}
	return f, fi, nil
}

// Get reads the whole file; ETag and content come from the same open file.
func (d *Dir) Get(ctx context.Context, key string) ([]byte, ObjectInfo, error) {
	f, fi, err := d.open(ctx, "get", key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	defer f.Close()
	if fi.Size() > MaxObjectSize {
		return nil, ObjectInfo{}, fmt.Errorf("remote: get %q: %d bytes is over the object limit", key, fi.Size())
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("remote: get %q: %w", key, err)
	}
	etag, ok := xattrETag(f)
	if !ok {
		etag = contentETag(data)
	}
	return data, dirInfo(key, fi, etag), nil
}

// GetRange reads [off, off+n) clipped at the end of the file.
func (d *Dir) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("remote: get %q: invalid range off=%d n=%d", key, off, n)
	}
	f, fi, err := d.open(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if off >= fi.Size() {
		return []byte{}, nil
	}
	n = min(n, fi.Size()-off)
	data := make([]byte, n)
	if _, err := f.ReadAt(data, off); err != nil {
		return nil, fmt.Errorf("remote: get %q: %w", key, err)
	}
	return data, nil
}

// OpenRange streams [off, off+n) clipped at the end of the file.
func (d *Dir) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if off < 0 || n < 0 {
		return nil, 0, fmt.Errorf("remote: get %q: invalid range off=%d n=%d", key, off, n)
	}
	f, fi, err := d.open(ctx, "get", key)
	if err != nil {
		return nil, 0, err
	}
	n = max(0, min(n, fi.Size()-off))
	return &fileRange{io.NewSectionReader(f, off, n), f}, n, nil
}

// fileRange is a range of an open file, closed with it.
type fileRange struct {
	*io.SectionReader
	f *os.File
}

func (r *fileRange) Close() error { return r.f.Close() }

// Stat reports size, ETag and modification time.
func (d *Dir) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	f, fi, err := d.open(ctx, "stat", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer f.Close()
	etag, err := fileETag(f)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("remote: stat %q: %w", key, err)
	}
	return dirInfo(key, fi, etag), nil
}

func dirInfo(key string, fi fs.FileInfo, etag string) ObjectInfo {
	return ObjectInfo{Key: key, Size: fi.Size(), ETag: etag, ModTime: fi.ModTime()}
}

func xattrETag(f *os.File) (string, bool) {
	var buf [64]byte
	n, err := unix.Fgetxattr(int(f.Fd()), etagXattr, buf[:])
	if err != nil || n != 32 {
		return "", false
	}
	return string(buf[:n]), true
}

// fileETag returns the stored ETag or hashes the content.
func fileETag(f *os.File) (string, error) {
	if etag, ok := xattrETag(f); ok {
		return etag, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

func (d *Dir) etagOfPath(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return fileETag(f)
}

// List walks the tree in lexical key order: within a directory, entries
// sort by name with "/" appended to subdirectories, which is exactly the
// order of the keys below them.
func (d *Dir) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	// Start at the deepest directory that the prefix fully names.
	start := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i+1]
		if checkKey(start[:i]) != nil {
			return nil // no valid key has this prefix; never walk outside root
		}
	}
	err := d.walk(ctx, start, prefix, fn)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	return err
}

// walk lists the directory holding keys that start with dirKey ("" or
// ending in "/").
func (d *Dir) walk(ctx context.Context, dirKey, prefix string, fn func(ObjectInfo) error) error {
	ents, err := os.ReadDir(filepath.Join(d.root, filepath.FromSlash(dirKey)))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(ents))
	isDir := make(map[string]bool, len(ents))
	for _, e := range ents {
		name := e.Name()
		if dirKey == "" && name == dirReserved {
			continue
		}
		if e.IsDir() {
			name += "/"
			isDir[name] = true
		} else if !e.Type().IsRegular() {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("remote: list %q: %w", prefix, err)
		}
		key := dirKey + name
		if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
			continue
		}
		if err := d.visit(ctx, key, isDir[name], prefix, fn); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dir) visit(ctx context.Context, key string, dir bool, prefix string, fn func(ObjectInfo) error) error {
	if dir {
		err := d.walk(ctx, key, prefix, fn)
		if errors.Is(err, fs.ErrNotExist) { // removed meanwhile
			return nil
		}
		return err
	}
	if !strings.HasPrefix(key, prefix) {
		return nil
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted while listing
	}
	if err != nil {
		return fmt.Errorf("remote: list %q: %w", prefix, err)
	}
	fi, err := f.Stat()
	var etag string
	if err == nil {
		etag, err = fileETag(f)
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("remote: list %q: %w", prefix, err)
	}
	return fn(dirInfo(key, fi, etag))
}

// Delete removes key and prunes directories it leaves empty.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := d.checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remote: delete %q: %w", key, err)
	}
	unlock, err := d.lock(key)
	if err != nil {
		return fmt.Errorf("remote: delete %q: %w", key, err)
	}
	defer unlock()
	p := d.path(key)
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return nil // a directory holding other keys, not a key
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remote: delete %q: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("remote: delete %q: %w", key, err)
	}
	for dir := filepath.Dir(p); len(dir) > len(d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty, or gone
			break
		}
	}
	return nil
}

// DeleteMany deletes keys one by one.
func (d *Dir) DeleteMany(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := d.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
