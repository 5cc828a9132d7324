package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoConditionalWrites means the store does not honour a condition of a
// put: it accepted a write the condition should have refused, refused one
// it should have accepted, or does not implement it. sealfs relies on
// conditional writes to keep two devices from committing at once, so it
// must not write there.
var ErrNoConditionalWrites = errors.New("remote: the store does not honour conditional writes")

// SelfTestPrefix is where SelfTestConditional writes its scratch objects:
// the prefix sealfs's bucket layout reserves for them (fs/layout).
const SelfTestPrefix = "selftest/"

// TestedStores names the S3 services sealfs has been run against, with
// their versions, for messages (docs/OPERATIONS.md, "Compatibility").
const TestedStores = "MinIO (2026-02-12, commit 7aac2a2c5b7c) and Ceph RGW 16.2.15"

// SelfTestConditional checks, before s is written to conditionally, that it
// really honours conditional writes: a second create-only put of a key
// must fail; and a compare-and-swap with the current ETag must succeed,
// one with a stale ETag must fail, and one on a missing key must fail.
//
// A store that can send If-Match in more than one form (an
// IfMatchFormSetter anywhere under s's wrappers: S3) is tried in each form
// of ifMatchForms in turn and left set to the first form that passes all
// three compare-and-swap checks, so every later compare-and-swap through s
// uses a form proven here. If no form passes, the store is set back to the
// quoted form, which it refuses (or ignores, and then nothing may write).
//
// It uses scratch keys under SelfTestPrefix and deletes them afterwards. A
// store that fails a check yields an error matching ErrNoConditionalWrites
// that says which check failed, in each form; other failures (network,
// permissions) are returned as they are.
func SelfTestConditional(ctx context.Context, s Store) (err error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	t := &selfTest{s: s, key: SelfTestPrefix + hex.EncodeToString(rnd[:])}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := s.DeleteMany(cctx, append(t.missing, t.key)); err == nil && derr != nil {
			err = fmt.Errorf("remote: self-test: clean up: %w", derr)
		}
	}()
	return t.run(ctx)
}

// selfTest is one run of SelfTestConditional.
type selfTest struct {
	s       Store
	key     string
	etag    string   // key's current ETag, as the last accepted put returned it
	n       int      // puts so far: each writes unique content
	missing []string // keys that must stay missing, one per form tried
}

func (t *selfTest) put(ctx context.Context, key string, o PutOptions) (string, error) {
	t.n++
	return t.s.Put(ctx, key, []byte(fmt.Sprintf("sealfs self-test %d %s", t.n, t.key)), o)
}

// advice ends every refusal.
const advice = "sealfs needs If-None-Match and If-Match on PUT so that two devices never commit at once: use a store that honours both (run against: " + TestedStores + ")"

func (t *selfTest) unsupported(what string) error {
	return fmt.Errorf("%w: %s %s; %s", ErrNoConditionalWrites, t.s, what, advice)
}

func (t *selfTest) run(ctx context.Context) error {
	etag, err := t.put(ctx, t.key, PutOptions{IfNoneMatch: true})
	if err != nil {
		return t.failed("first create-only put", err)
	}
	t.etag = etag
	switch _, err := t.put(ctx, t.key, PutOptions{IfNoneMatch: true}); {
	case err == nil:
		return t.unsupported("accepted a second create-only put (If-None-Match: *) of one key")
	case !errors.Is(err, ErrPrecondition):
		return t.failed("second create-only put", err)
	}
	setter, many := As[IfMatchFormSetter](t.s)
	if !many {
		switch what, err := t.compareAndSwap(ctx); {
		case err != nil:
			return err
		case what != "":
			return t.unsupported(what)
		}
		return nil
	}
	var failed []string
	for _, f := range ifMatchForms {
		setter.SetIfMatchForm(f)
		what, err := t.compareAndSwap(ctx)
		if err == nil && what == "" {
			return nil
		}
		setter.SetIfMatchForm(IfMatchQuoted)
		if err != nil {
			return fmt.Errorf("%w (If-Match form: %s)", err, f)
		}
		failed = append(failed, fmt.Sprintf("%s: %s", f, what))
	}
	return t.unsupported("honours If-Match in neither form: " + strings.Join(failed, "; "))
}

// compareAndSwap runs the three If-Match checks on the scratch key in the
// store's current form. It returns what the store did wrong, or "" if it
// passed; err is for failures that are not answers to the condition.
func (t *selfTest) compareAndSwap(ctx context.Context) (what string, err error) {
	stale := t.etag
	switch etag, err := t.put(ctx, t.key, PutOptions{IfMatch: stale}); {
	case errors.Is(err, ErrPrecondition):
		return "refused the current ETag", nil
	case err != nil:
		return t.answer("put with the current ETag as If-Match", err)
	default:
		t.etag = etag
	}
	if t.etag == stale {
		return "gave new content the same ETag (a compare-and-swap cannot tell versions apart)", nil
	}
	switch etag, err := t.put(ctx, t.key, PutOptions{IfMatch: stale}); {
	case err == nil:
		t.etag = etag
		return "accepted a stale ETag", nil
	case !errors.Is(err, ErrPrecondition):
		return t.answer("put with a stale ETag as If-Match", err)
	}
	missing := fmt.Sprintf("%s-missing-%d", t.key, len(t.missing))
	t.missing = append(t.missing, missing)
	switch _, err := t.put(ctx, missing, PutOptions{IfMatch: t.etag}); {
	case err == nil:
		return "accepted If-Match on a missing key", nil
	case !errors.Is(err, ErrPrecondition):
		return t.answer("put with If-Match on a missing key", err)
	}
	return "", nil
}

// answer sorts an error of an If-Match put: a store that does not
// implement the header in this form (ErrNoConditionalWrites from the S3
// store: HTTP 501) failed the check; anything else is a failure of its own.
func (t *selfTest) answer(step string, err error) (what string, _ error) {
	if errors.Is(err, ErrNoConditionalWrites) {
		return "does not implement the " + step, nil
	}
	return "", t.failed(step, err)
}

// failed wraps an error that is not the answer to a condition. A store
// that does not implement conditions (ErrNoConditionalWrites from the S3
// store) gets the same advice as one that ignores them.
func (t *selfTest) failed(step string, err error) error {
	if errors.Is(err, ErrNoConditionalWrites) {
		return fmt.Errorf("remote: self-test: %s: %w; %s", step, err, advice)
	}
	return fmt.Errorf("remote: self-test: %s: %w", step, err)
}
