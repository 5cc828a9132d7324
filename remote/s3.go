package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7"
)

// MaxObjectSize is the largest object S3 and Dir stores accept or read
// whole. sealfs objects are at most ~70 MiB; the limit keeps a hostile
// server from making a Get allocate without bound.
const MaxObjectSize = 1 << 30

// S3 is a Store on an S3-compatible bucket, under an optional key prefix.
// It sends every object as one PUT with its size (no multipart buffers) and
// does not retry by itself: wrap it with WithRetry (Open does).
type S3 struct {
	client    *minio.Client
	core      minio.Core
	bucket    string
	prefix    string // "" or ends with "/"
	endpoint  string // for messages, without credentials
	transport *http.Transport
	http      *http.Client // for the requests minio-go cannot shape (putUnquoted)
	anonymous bool         // no credentials were found
	accessKey string
	ifMatch   atomic.Uint32 // the IfMatchForm compare-and-swap puts send
	// unsignedBody: PUT bodies go as UNSIGNED-PAYLOAD, not hashed for
	// SigV4 (see Put).
	unsignedBody bool
}

var _ Store = (*S3)(nil)

func (s *S3) String() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

// Close drops idle connections.
func (s *S3) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// Put stores data with a single PUT; conditions become If-None-Match: * and
// If-Match in the store's IfMatchForm.
func (s *S3) Put(ctx context.Context, key string, data []byte, opts PutOptions) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if len(data) > MaxObjectSize {
		return "", fmt.Errorf("remote: put %q: %d bytes is over the %d byte object limit", key, len(data), MaxObjectSize)
	}
	if opts.IfMatch != "" && s.IfMatchForm() == IfMatchUnquoted {
		return s.putUnquoted(ctx, key, data, opts)
	}
	po := minio.PutObjectOptions{DisableMultipart: true, ContentType: "application/octet-stream"}
	// Over plain http minio-go signs the body in chunks, SHA-256 of every
	// byte, and the server hashes it again to check: without it a mount
	// spends 27-31 % less CPU per MiB written (docs/PERFORMANCE.md). It
	// buys nothing on loopback (no network between) nor over https
	// (minio-go then sends UNSIGNED-PAYLOAD and TLS protects the body),
	// and every object is sealed anyway: a changed body fails to open.
	// So the body is signed only over plain http to another host
	// (--s3-insecure), where the server's check is the only one between
	// the wire and the bucket. An empty body is always sent unsigned:
	// signed in chunks it has no chunk at all, which Ceph RGW 16.2
	// refuses (XAmzContentSHA256Mismatch).
	po.DisableContentSha256 = s.unsignedBody || len(data) == 0
	if opts.IfNoneMatch {
		po.SetMatchETagExcept("*")
	}
	if opts.IfMatch != "" {
		po.SetMatchETag(opts.IfMatch)
	}
	cond := opts.IfNoneMatch || opts.IfMatch != ""
	body := &loan{data: data}
	defer body.end()
	info, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, body.reader(), int64(len(data)), po)
	if err != nil {
		return "", s.mapErr("put", key, err, cond)
	}
	return strings.Trim(info.ETag, `"`), nil
}

// Get reads the whole object.
func (s *S3) Get(ctx context.Context, key string) ([]byte, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	rc, oi, _, err := s.core.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, s.mapErr("get", key, err, false)
	}
	defer rc.Close()
	data, err := readBody(rc, oi.Size)
	if err != nil {
		return nil, ObjectInfo{}, s.mapErr("get", key, err, false)
	}
	return data, s.info(key, oi), nil
}

// GetRange reads bytes [off, off+n) with an HTTP range request.
func (s *S3) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	rc, size, err := s.openRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	if rc == nil {
		return []byte{}, nil
	}
	defer rc.Close()
	data, err := readBody(rc, size)
	if err != nil {
		return nil, s.mapErr("get", key, err, false)
	}
	return data, nil
}

// OpenRange starts an HTTP range request for [off, off+n) and streams its
// body.
func (s *S3) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	rc, size, err := s.openRange(ctx, key, off, n)
	if err != nil {
		return nil, 0, err
	}
	if rc == nil {
		return io.NopCloser(strings.NewReader("")), 0, nil
	}
	return &bodyReader{rc: rc, left: size}, size, nil
}

// bodyReader reads a response body of a known size: a body that ends
// early or breaks is a transient error.
type bodyReader struct {
	rc   io.ReadCloser
	left int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	switch {
	case b.left <= 0:
		return n, nil // EOF on the next call
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		err = fmt.Errorf("body cut short: %w", markTransient(err))
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// openRange starts a range request for [off, off+n) and returns the body
// and its size, at most n; a range that starts at or past the end of the
// object (or n == 0 on an existing object) returns a nil body.
func (s *S3) openRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	if off < 0 || n < 0 {
		return nil, 0, fmt.Errorf("remote: get %q: invalid range off=%d n=%d", key, off, n)
	}
	if n == 0 {
		_, err := s.Stat(ctx, key)
		return nil, 0, err
	}
	var gopts minio.GetObjectOptions
	end := off + n - 1
	if end < off { // overflow: read to the end
		end = 1<<63 - 1
	}
	if err := gopts.SetRange(off, end); err != nil {
		return nil, 0, fmt.Errorf("remote: get %q: %w", key, err)
	}
	rc, oi, _, err := s.core.GetObject(ctx, s.bucket, s.prefix+key, gopts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			return nil, 0, nil // the object exists but starts before off
		}
		return nil, 0, s.mapErr("get", key, err, false)
	}
	if oi.Size < 0 || oi.Size > n {
		rc.Close()
		return nil, 0, markTransient(fmt.Errorf("remote: get %q: server sends %d bytes for a %d byte range", key, oi.Size, n))
	}
	return rc, oi.Size, nil
}

// readBody reads exactly size bytes; a short body is transient.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > MaxObjectSize {
		return nil, fmt.Errorf("object size %d out of range", size)
	}
	buf := make([]byte, size)
	if err := readFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// readFull fills buf from r; a short body is transient.
func readFull(r io.Reader, buf []byte) error {
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("body cut short: %w", markTransient(err))
	}
	return nil
}

// Stat issues a HEAD request.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.mapErr("stat", key, err, false)
	}
	return s.info(key, oi), nil
}

func (s *S3) info(key string, oi minio.ObjectInfo) ObjectInfo {
	return ObjectInfo{Key: key, Size: oi.Size, ETag: strings.Trim(oi.ETag, `"`), ModTime: oi.LastModified}
}

// List pages through ListObjectsV2 (1,000 keys a page) and streams keys to
// fn as pages arrive.
func (s *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lopts := minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true, MaxKeys: 1000}
	for oi := range s.client.ListObjectsIter(lctx, s.bucket, lopts) {
		if oi.Err != nil {
			return s.mapErr("list", prefix, oi.Err, false)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("remote: list %q: %w", prefix, err)
		}
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if key == "" || strings.HasSuffix(key, "/") {
			continue // a "folder" marker made by some other tool
		}
		if err := fn(s.info(key, oi)); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remote: list %q: %w", prefix, err)
	}
	return nil
}

// Delete removes one key; S3 answers 204 for a missing key too.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return s.mapErr("delete", key, err, false)
	}
	return nil
}

// DeleteMany uses multi-object delete requests of up to 1,000 keys.
func (s *S3) DeleteMany(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	ch := make(chan minio.ObjectInfo)
	go func() {
		defer close(ch)
		for _, k := range keys {
			select {
			case ch <- minio.ObjectInfo{Key: s.prefix + k}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var first error
	for r := range s.client.RemoveObjectsWithResult(ctx, s.bucket, ch, minio.RemoveObjectsOptions{}) {
		if r.Err != nil && first == nil && minio.ToErrorResponse(r.Err).Code != minio.NoSuchKey {
			first = s.mapErr("delete", strings.TrimPrefix(r.ObjectName, s.prefix), r.Err, false)
		}
	}
	if first == nil {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("remote: delete %d keys: %w", len(keys), err)
		}
	}
	return first
}
