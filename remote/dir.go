package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Dir is a Store in a local directory laid out like the bucket: key
// "data/ab/xyz" is the file ROOT/data/ab/xyz, so the tree can be copied to
// a bucket with any S3 tool and back. ROOT/.sealfs holds temp files and
// lock files and is never listed; keys may not start with ".sealfs/".
//
// Atomicity: a Put writes a temp file, fsyncs it, renames it over the key
// and fsyncs the directory, so a reader sees the old or the new file whole,
// also after a crash.
//
// ETags: each Put draws a random 128-bit ETag (32 hex digits) and keeps it
// in the file's extended attribute user.sealfs.etag, which the rename moves
// together with the content; readers report that attribute. So, as on S3
// with versioning, every Put makes a new version with a new ETag, even of
// identical bytes (a compare-and-swap can never mistake a rewrite for the
// version it saw), and Put does not read its data a second time. Where the
// attribute cannot be set (a file system without user xattrs), Put and
// every reader use a hash of the content instead (the first half of its
// SHA-256 in hex), as does a file without the attribute (written there, by
// a version before random ETags that kept the hash in the attribute, or
// copied without xattrs). Either way the ETag is a property of the file, so
// it cannot suffer from reuse of inode numbers or coarse timestamps.
//
// Conditions: every Put and Delete of a key holds an exclusive flock on one
// of 64 lock files (chosen by hashing the key) while it checks the condition
// and renames, so conditional puts are correct across goroutines and
// processes. Writing and syncing the temp file happen outside the lock.
type Dir struct {
	root    string
	tmp     string
	locks   string
	noXattr bool // tests: set no attribute, as on a file system without user xattrs
}

var _ Store = (*Dir)(nil)

const (
	dirReserved  = ".sealfs"
	lockStripes  = 64
	etagXattr    = "user.sealfs.etag"
	staleTempAge = time.Hour
)

// NewDir returns the store rooted at the existing directory root.
func NewDir(root string) (*Dir, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("remote: store directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("remote: store location %s is not a directory", root)
	}
	d := &Dir{root: root, tmp: filepath.Join(root, dirReserved, "tmp"), locks: filepath.Join(root, dirReserved, "locks")}
	for _, p := range []string{d.tmp, d.locks} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("remote: prepare store directory: %w", err)
		}
	}
	d.removeStaleTemps()
	return d, nil
}

func (d *Dir) String() string { return "file://" + d.root }
func (d *Dir) Close() error   { return nil }

// removeStaleTemps deletes temp files a crashed writer left behind; young
// ones may belong to a live process sharing the directory.
func (d *Dir) removeStaleTemps() {
	ents, _ := os.ReadDir(d.tmp)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(d.tmp, e.Name()))
		}
	}
}

func (d *Dir) checkKey(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if key == dirReserved || strings.HasPrefix(key, dirReserved+"/") {
		return fmt.Errorf("remote: invalid key %q: %q is reserved by the directory store: %w", key, dirReserved, errInvalidKey)
	}
	return nil
}

func (d *Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// contentETag is the ETag of a file without the ETag attribute.
func contentETag(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// randomETag is the ETag a Put keeps in the file's attribute.
func randomETag() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// setETag stores etag in the attribute of the open temp file f.
func (d *Dir) setETag(f *os.File, etag string) error {
	if d.noXattr {
		return unix.ENOTSUP
	}
	return unix.Fsetxattr(int(f.Fd()), etagXattr, []byte(etag), 0)
}

// Put writes data atomically; see the type comment.
func (d *Dir) Put(ctx context.Context, key string, data []byte, opts PutOptions) (string, error) {
	if err := d.checkKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("remote: put %q: %w", key, err)
	}
	tmp, etag, err := d.writeTemp(data)
	if err != nil {
		return "", fmt.Errorf("remote: put %q: %w", key, err)
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	unlock, err := d.lock(key)
	if err != nil {
		return "", fmt.Errorf("remote: put %q: %w", key, err)
	}
	defer unlock()
	if err := d.checkCondition(key, opts); err != nil {
		return "", err
	}
	if err := d.renameInto(tmp, key); err != nil {
		return "", fmt.Errorf("remote: put %q: %w", key, err)
	}
	return etag, nil
}

func (d *Dir) checkCondition(key string, opts PutOptions) error {
	if !opts.IfNoneMatch && opts.IfMatch == "" {
		return nil
	}
	cur, err := d.etagOfPath(d.path(key))
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remote: put %q: read current version: %w", key, err)
	}
	if opts.IfNoneMatch && exists {
		return fmt.Errorf("remote: put %q: key exists: %w", key, ErrPrecondition)
	}
	if opts.IfMatch != "" && (!exists || cur != opts.IfMatch) {
		return fmt.Errorf("remote: put %q: etag mismatch: %w", key, ErrPrecondition)
	}
	return nil
}

// writeTemp writes and syncs a temp file in ROOT/.sealfs/tmp and returns
// its ETag: a random one kept in its attribute, or, if the attribute
// cannot be set, the content's hash, which readers then compute too.
func (d *Dir) writeTemp(data []byte) (path, etag string, err error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	path = filepath.Join(d.tmp, hex.EncodeToString(rnd[:])+".tmp")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return "", "", err
	}
	// The file is new (O_EXCL), so a failed set leaves it without the
	// attribute, and readers hash the content as this does.
	etag = randomETag()
	if d.setETag(f, etag) != nil {
		etag = contentETag(data)
	}
	return path, etag, f.Sync()
}

// renameInto moves tmp to key's path, creating parent directories, and
// syncs the directories it changed. A concurrent Delete may prune a parent
// directory between creating and renaming; then it tries again.
func (d *Dir) renameInto(tmp, key string) error {
	dst := d.path(key)
	var err error
	for range 5 {
		if err = d.ensureDir(filepath.Dir(dst)); err != nil {
			return err
		}
		if err = os.Rename(tmp, dst); err == nil {
			return syncDir(filepath.Dir(dst))
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// ensureDir creates dir and its missing parents and syncs each parent of a
// created directory, so the new entries survive a crash.
func (d *Dir) ensureDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for p := dir; p != d.root && len(p) > len(d.root); p = filepath.Dir(p) {
		if err := syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// lock takes the exclusive flock of key's stripe. Each call opens its own
// file description, so goroutines of one process exclude each other too.
func (d *Dir) lock(key string) (unlock func(), err error) {
	h := fnv.New32a()
	io.WriteString(h, key)
	f, err := os.OpenFile(filepath.Join(d.locks, fmt.Sprintf("%02d", h.Sum32()%lockStripes)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing the description releases the lock
}
