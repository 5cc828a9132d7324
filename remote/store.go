package remote

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors every Store returns (wrapped; match with errors.Is).
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("remote: object not found")
	// ErrPrecondition: a conditional Put (IfNoneMatch / IfMatch) was refused.
	ErrPrecondition = errors.New("remote: precondition failed")
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string    // relative to the store's root (no prefix)
	Size    int64     // bytes
	ETag    string    // opaque version token for IfMatch; see Store
	ModTime time.Time // when the object was written, as the store reports it
}

// PutOptions are the conditions of a Put. The zero value is an unconditional put.
type PutOptions struct {
	// IfNoneMatch makes the put create-only: it fails with ErrPrecondition if
	// the key exists (S3 "If-None-Match: *").
	IfNoneMatch bool
	// IfMatch, when not empty, makes the put a compare-and-swap: it fails with
	// ErrPrecondition unless the key exists with exactly this ETag. It must
	// be an ETag the store reported: Ceph RGW compares by prefix and would
	// accept a made-up value that merely begins with the current ETag. An
	// S3 store compares it in the form SelfTestConditional proved (see
	// IfMatchForm); call that before the first compare-and-swap.
	IfMatch string
}

// Store is a flat key/value object store rooted at a prefix. Keys are
// slash-separated relative paths such as "data/ab/abcdef..."; they have no
// empty, "." or ".." parts and no leading or trailing slash (other keys are
// refused with an error). A key must not be a "directory" of another key
// ("a/b" beside "a/b/c"): MinIO and the directory store cannot hold both, and
// sealfs's layout never needs it. All methods are safe for concurrent use and
// honour ctx (a cancelled call returns an error matching ctx.Err()).
//
// ETags: a Put that changes an object's content gives it a new ETag, which
// Put, Get, Stat and List all report alike. Putting identical bytes again may
// keep the ETag (S3's ETag is the content's MD5); so objects that are
// replaced by compare-and-swap should hold content unique to each write.
//
// The contract, method by method (remote/storetest checks every line):
//
//   - Put stores data under key atomically: a concurrent or later Get sees
//     either the old object or the whole new one, never a part. It returns
//     the new ETag. With PutOptions it is conditional (see PutOptions); a
//     refused condition returns an error matching ErrPrecondition and changes
//     nothing.
//   - Get returns the whole object and its info; a missing key returns an
//     error matching ErrNotFound.
//   - GetRange returns bytes [off, off+n) of the object, clipped at its end;
//     a range that starts at or past the end returns an empty slice and no
//     error; n < 0 or off < 0 is an error. Missing key: ErrNotFound.
//   - OpenRange is GetRange as a stream, for hot read paths that read into
//     their own buffers and work on the bytes as they arrive: it returns a
//     reader of the same bytes and their count (clipped at the object's
//     end; 0 for a range at or past it), which the caller must close. A
//     body that ends before its count, or breaks, fails with an error that
//     IsTransient reports (read the range again). Opening is retried like
//     GetRange; reading is not.
//   - Stat returns the info of one object; missing key: ErrNotFound.
//   - List calls fn for every object whose key starts with prefix, in
//     lexical (byte) key order, across all pages, streaming (fn runs while
//     later pages are still unread); it stops and returns fn's error if fn
//     returns one, and an error matching ctx.Err() when cancelled. Objects
//     put or deleted during a List may or may not be reported.
//   - Delete removes one key; deleting a missing key is not an error.
//   - DeleteMany removes many keys (missing ones are not an error) and
//     returns the first error encountered; S3 sends 1,000 keys per request.
//   - String names the store for messages (URL without secrets).
//   - Close releases resources; the Store must not be used afterwards.
type Store interface {
	Put(ctx context.Context, key string, data []byte, opts PutOptions) (etag string, err error)
	Get(ctx context.Context, key string) ([]byte, ObjectInfo, error)
	GetRange(ctx context.Context, key string, off, n int64) ([]byte, error)
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error)
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	Delete(ctx context.Context, key string) error
	DeleteMany(ctx context.Context, keys []string) error
	String() string
	Close() error
}
