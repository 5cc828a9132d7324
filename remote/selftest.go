package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrNoConditionalWrites means the store accepted a write that a
// condition should have refused. sealfs relies on conditional writes to
// keep two devices from committing at once, so it must not write there.
var ErrNoConditionalWrites = errors.New("remote: the store does not honour conditional writes")

// SelfTestPrefix is where SelfTestConditional writes its scratch objects.
const SelfTestPrefix = "selftest/"

// SelfTestConditional checks once, at mount, that s really honours
// conditional writes: a second create-only put of a key must fail, a
// compare-and-swap with a wrong ETag must fail, one with the right ETag
// must succeed, and one on a missing key must fail. It uses scratch keys
// under SelfTestPrefix and deletes them afterwards. A store that ignores a
// condition yields an error matching ErrNoConditionalWrites that says which
// one; other failures (network, permissions) are returned as they are.
func SelfTestConditional(ctx context.Context, s Store) (err error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	key := SelfTestPrefix + hex.EncodeToString(rnd[:])
	missing := key + "-missing"
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := s.DeleteMany(cctx, []string{key, missing}); err == nil && derr != nil {
			err = fmt.Errorf("remote: self-test: clean up: %w", derr)
		}
	}()
	return selfTest(ctx, s, key, missing)
}

func selfTest(ctx context.Context, s Store, key, missing string) error {
	unsupported := func(what string) error {
		return fmt.Errorf("%w: %s accepted %s; sealfs needs them so that two devices never commit at once: use a service that supports If-None-Match and If-Match on PUT (AWS S3, MinIO, Ceph RGW, Cloudflare R2 ...)", ErrNoConditionalWrites, s, what)
	}
	etag1, err := s.Put(ctx, key, []byte("sealfs self-test 1 "+key), PutOptions{IfNoneMatch: true})
	if err != nil {
		return fmt.Errorf("remote: self-test: first create-only put: %w", err)
	}
	switch _, err := s.Put(ctx, key, []byte("sealfs self-test 2 "+key), PutOptions{IfNoneMatch: true}); {
	case err == nil:
		return unsupported("a second create-only put (If-None-Match: *) of one key")
	case !errors.Is(err, ErrPrecondition):
		return fmt.Errorf("remote: self-test: second create-only put: %w", err)
	}
	wrong := "0123456789abcdef0123456789abcdef"
	if wrong == etag1 {
		wrong = "fedcba9876543210fedcba9876543210"
	}
	switch _, err := s.Put(ctx, key, []byte("sealfs self-test 3 "+key), PutOptions{IfMatch: wrong}); {
	case err == nil:
		return unsupported("a put with a wrong If-Match ETag")
	case !errors.Is(err, ErrPrecondition):
		return fmt.Errorf("remote: self-test: put with wrong If-Match: %w", err)
	}
	if _, err := s.Put(ctx, key, []byte("sealfs self-test 4 "+key), PutOptions{IfMatch: etag1}); err != nil {
		return fmt.Errorf("remote: self-test: put with the current ETag as If-Match was refused: %w", err)
	}
	switch _, err := s.Put(ctx, missing, []byte("sealfs self-test 5 "+key), PutOptions{IfMatch: etag1}); {
	case err == nil:
		return unsupported("a put with If-Match on a missing key")
	case !errors.Is(err, ErrPrecondition):
		return fmt.Errorf("remote: self-test: put with If-Match on a missing key: %w", err)
	}
	return nil
}
