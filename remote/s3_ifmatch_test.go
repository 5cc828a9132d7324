package remote_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
	"github.com/sealfs/sealfs/remote/storetest"
)

func ifMatchForm(t *testing.T, s remote.Store) remote.IfMatchForm {
	t.Helper()
	fs, ok := remote.As[remote.IfMatchFormSetter](s)
	if !ok {
		t.Fatalf("%s has no IfMatchFormSetter under its wrappers", s)
	}
	return fs.IfMatchForm()
}

// TestS3ConformanceLikeCephRGW: behind a proxy that refuses the quoted
// If-Match as Ceph RGW does, the self-test chooses the unquoted form and
// the S3 store then passes the whole contract, compare-and-swap races
// included.
func TestS3ConformanceLikeCephRGW(t *testing.T) {
	p := s3test.NewIfMatchProxy(t, s3test.LikeCephRGW)
	storetest.Run(t, func(t *testing.T) remote.Store {
		s := s3test.NewStoreOptions(t, p.Options())
		t.Cleanup(func() {
			if !t.Failed() && ifMatchForm(t, s) != remote.IfMatchUnquoted {
				t.Errorf("form %v after the self-test behind an RGW-like proxy", ifMatchForm(t, s))
			}
		})
		return s
	})
	quoted, unquoted := p.IfMatchSeen()
	t.Logf("If-Match PUTs through the proxy: %d quoted (refused), %d unquoted", quoted, unquoted)
	if unquoted == 0 {
		t.Fatal("no unquoted If-Match reached the server")
	}
}

// TestSelfTestS3: the form the self-test leaves the S3 store in, straight
// on MinIO and behind the two proxies, and what each sends afterwards.
func TestSelfTestS3(t *testing.T) {
	ctx := context.Background()
	t.Run("the test server: quoted on MinIO", func(t *testing.T) {
		s := s3test.NewStore(t)
		if err := remote.SelfTestConditional(ctx, s); err != nil {
			t.Fatal(err)
		}
		if f, want := ifMatchForm(t, s), s3test.Server(t).IfMatch; f != want {
			t.Fatalf("form %v, want %v", f, want)
		}
	})
	t.Run("like Ceph RGW: unquoted, and only unquoted afterwards", func(t *testing.T) {
		p := s3test.NewIfMatchProxy(t, s3test.LikeCephRGW)
		s := s3test.NewStoreOptions(t, p.Options())
		if err := remote.SelfTestConditional(ctx, s); err != nil {
			t.Fatal(err)
		}
		if f := ifMatchForm(t, s); f != remote.IfMatchUnquoted {
			t.Fatalf("form %v, want unquoted", f)
		}
		q0, u0 := p.IfMatchSeen()
		if q0 != 1 || u0 != 3 {
			t.Errorf("self-test sent %d quoted and %d unquoted If-Match, want 1 (refused) and 3", q0, u0)
		}
		e1, err := s.Put(ctx, "head", []byte("commit 1"), remote.PutOptions{IfNoneMatch: true})
		if err != nil {
			t.Fatal(err)
		}
		e2, err := s.Put(ctx, "head", []byte("commit 2"), remote.PutOptions{IfMatch: e1})
		if err != nil {
			t.Fatalf("compare-and-swap with the current ETag: %v", err)
		}
		if _, err := s.Put(ctx, "head", []byte("commit 2b"), remote.PutOptions{IfMatch: e1}); !errors.Is(err, remote.ErrPrecondition) {
			t.Fatalf("compare-and-swap with a stale ETag: %v", err)
		}
		if _, err := s.Put(ctx, "nothing", []byte("x"), remote.PutOptions{IfMatch: e2}); !errors.Is(err, remote.ErrPrecondition) {
			t.Fatalf("compare-and-swap on a missing key: %v", err)
		}
		if q, u := p.IfMatchSeen(); q != q0 || u != u0+3 {
			t.Errorf("after the self-test: %d quoted and %d unquoted If-Match, want 0 and 3", q-q0, u-u0)
		}
	})
	t.Run("neither form: refused, naming both", func(t *testing.T) {
		p := s3test.NewIfMatchProxy(t, s3test.RefuseIfMatch)
		s := s3test.NewStoreOptions(t, p.Options())
		err := remote.SelfTestConditional(ctx, s)
		if !errors.Is(err, remote.ErrNoConditionalWrites) {
			t.Fatalf("self-test: %v; want ErrNoConditionalWrites", err)
		}
		msg := err.Error()
		t.Log(msg)
		for _, part := range []string{s.String(), `quoted (If-Match: "<etag>"): refused the current ETag`, "unquoted (If-Match: <etag>): refused the current ETag", "Ceph RGW 16.2.15"} {
			if !strings.Contains(msg, part) {
				t.Errorf("refusal lacks %q", part)
			}
		}
		if f := ifMatchForm(t, s); f != remote.IfMatchQuoted {
			t.Errorf("form %v after a failed self-test, want quoted", f)
		}
	})
}

// A store that answers conditional puts with 501 Not Implemented does not
// have conditional writes (so --single-device applies to it).
func TestSelfTestS3NotImplemented(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Match") != "" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotImplemented)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>`)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s, err := remote.NewS3("bucket", "", remote.Options{Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = remote.SelfTestConditional(ctx, s)
	if !errors.Is(err, remote.ErrNoConditionalWrites) || !strings.Contains(err.Error(), "501 NotImplemented") {
		t.Fatalf("self-test against 501: %v", err)
	}
	t.Log(err)
}

// A put in the unquoted form that fails is mapped like any other: a 5xx
// is transient, a 404 on If-Match is a refused condition.
func TestS3UnquotedErrors(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if got := r.Header.Get("If-Match"); got != "abc" {
			t.Errorf("If-Match %q, want abc", got)
		}
		if r.URL.Query().Get("X-Amz-Signature") == "" || !strings.Contains(r.URL.Query().Get("X-Amz-SignedHeaders"), "if-match") {
			t.Errorf("If-Match is not signed: %s", r.URL.RawQuery)
		}
		w.WriteHeader(int(status.Load())) // no body, as a proxy in the way might answer
	}))
	defer srv.Close()
	s, err := remote.NewS3("bucket", "", remote.Options{Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetIfMatchForm(remote.IfMatchUnquoted)
	ctx := context.Background()
	if _, err := s.Put(ctx, "head", []byte("x"), remote.PutOptions{IfMatch: "abc"}); !remote.IsTransient(err) {
		t.Errorf("503: %v, want a transient error", err)
	}
	status.Store(http.StatusNotFound)
	if _, err := s.Put(ctx, "head", []byte("x"), remote.PutOptions{IfMatch: "abc"}); !errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("404: %v, want ErrPrecondition", err)
	}
	status.Store(http.StatusForbidden)
	if _, err := s.Put(ctx, "head", []byte("x"), remote.PutOptions{IfMatch: "abc"}); err == nil || remote.IsTransient(err) || errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("403: %v, want a permanent error", err)
	}
}

// SingleWriter makes a store without conditional writes pass the whole
// contract within one process: on memory, and on S3 behind a proxy that
// refuses every If-Match.
func TestSingleWriterConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remote.Store { return remote.WithSingleWriter(remote.NewMemory()) })
}

func TestSingleWriterOnStoreWithoutIfMatch(t *testing.T) {
	p := s3test.NewIfMatchProxy(t, s3test.RefuseIfMatch)
	raw := s3test.NewStoreOptions(t, p.Options())
	ctx := context.Background()
	if err := remote.SelfTestConditional(ctx, raw); !errors.Is(err, remote.ErrNoConditionalWrites) {
		t.Fatalf("self-test of the raw store: %v", err)
	}
	s := remote.WithSingleWriter(raw)
	if err := remote.SelfTestConditional(ctx, s); err != nil {
		t.Fatalf("self-test through SingleWriter: %v", err)
	}
	e1, err := s.Put(ctx, "head", []byte("commit 1"), remote.PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "head", []byte("commit 1b"), remote.PutOptions{IfNoneMatch: true}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("second create: %v", err)
	}
	e2, err := s.Put(ctx, "head", []byte("commit 2"), remote.PutOptions{IfMatch: e1})
	if err != nil {
		t.Fatalf("compare-and-swap with the current ETag: %v", err)
	}
	if _, err := s.Put(ctx, "head", []byte("commit 2b"), remote.PutOptions{IfMatch: e1}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("compare-and-swap with a stale ETag: %v", err)
	}
	if _, err := s.Put(ctx, "nothing", []byte("x"), remote.PutOptions{IfMatch: e2}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("compare-and-swap on a missing key: %v", err)
	}
	data, info, err := s.Get(ctx, "head")
	if err != nil || string(data) != "commit 2" || info.ETag != e2 {
		t.Fatalf("head: %q %q %v, want commit 2 with ETag %q", data, info.ETag, err, e2)
	}
	if q, u := p.IfMatchSeen(); q != 1 || u != 1 {
		t.Errorf("%d quoted and %d unquoted If-Match reached the proxy, want the raw self-test's 1 and 1 (SingleWriter sends none)", q, u)
	}
}

// TestS3PutUnsignedOnLoopback: to a loopback endpoint PUT bodies go as
// UNSIGNED-PAYLOAD (no SHA-256 of every byte on either side), and what is
// read back is what was put: plain, create-only and compare-and-swap.
func TestS3PutUnsignedOnLoopback(t *testing.T) {
	ctx := context.Background()
	p := s3test.NewIfMatchProxy(t, s3test.PassIfMatch)
	s := s3test.NewStoreOptions(t, p.Options())
	big := make([]byte, 5<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "data/big", big, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	e1, err := s.Put(ctx, "head", []byte("commit 1"), remote.PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "head", []byte("commit 2"), remote.PutOptions{IfMatch: e1}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]byte{"data/big": big, "head": []byte("commit 2")} {
		got, _, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: read back %d bytes that differ from the %d put", key, len(got), len(want))
		}
	}
	signed, unsigned := p.PutBodies()
	if signed != 0 || unsigned < 3 {
		t.Errorf("PUT bodies through a loopback proxy: %d signed, %d unsigned; want none signed", signed, unsigned)
	}
}
