package remote_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// flakyProxy sits between the S3 store and MinIO and spoils the next
// failures requests in the chosen way: a 503 SlowDown, a 500, a
// connection closed without an answer, or ("lose") a request forwarded to
// MinIO whose answer is then lost.
type flakyProxy struct {
	*httptest.Server
	mode     atomic.Value // "503", "500", "reset"
	failures atomic.Int32
	requests atomic.Int32
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	u, _ := url.Parse(target)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // keep the signed Host header
	}}
	p := &flakyProxy{}
	p.mode.Store("503")
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if p.failures.Add(-1) < 0 {
			p.failures.Store(0)
			rp.ServeHTTP(w, r)
			return
		}
		switch p.mode.Load().(string) {
		case "lose": // forward, then lose the answer
			rp.ServeHTTP(httptest.NewRecorder(), r)
			fallthrough
		case "reset":
			conn, _, _ := w.(http.Hijacker).Hijack()
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST instead of FIN
			}
			conn.Close()
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`<?xml version="1.0"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>`))
		}
	}))
	t.Cleanup(p.Close)
	return p
}

// Real HTTP failures from an S3 endpoint are classified as transient and
// retried by the store Open returns.
func TestS3RetriesRealTransientFailures(t *testing.T) {
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	proxy := newFlakyProxy(t, srv.Endpoint)
	opts := srv.Options()
	opts.Endpoint = proxy.URL
	opts.Retry = remote.RetryOptions{MaxAttempts: 5, BaseDelay: 10 * time.Millisecond}
	ctx := context.Background()
	s, err := remote.Open(ctx, "s3://"+bucket+"/p", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := bytes.Repeat([]byte("sealed"), 10000)
	for _, mode := range []string{"503", "500", "reset"} {
		t.Run(mode, func(t *testing.T) {
			proxy.mode.Store(mode)
			proxy.failures.Store(2)
			before := proxy.requests.Load()
			if _, err := s.Put(ctx, "obj-"+mode, data, remote.PutOptions{IfNoneMatch: true}); err != nil {
				t.Fatalf("put through 2 failures: %v", err)
			}
			if n := proxy.requests.Load() - before; n != 3 {
				t.Errorf("%d requests, want 3", n)
			}
			proxy.failures.Store(2)
			got, _, err := s.Get(ctx, "obj-"+mode)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get through 2 failures: %d bytes, %v", len(got), err)
			}
			proxy.failures.Store(2)
			if _, err := s.Stat(ctx, "obj-"+mode); err != nil {
				t.Fatalf("stat through 2 failures: %v", err)
			}
		})
	}
	t.Run("permanent", func(t *testing.T) {
		proxy.mode.Store("503")
		proxy.failures.Store(1000)
		defer proxy.failures.Store(0)
		// Five attempts with 10 ms backoff end in well under a second; the
		// context's minute is only a bound for a retry loop that never ends.
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, _, err := s.Get(cctx, "obj-503")
		if err == nil || !remote.IsTransient(err) || cctx.Err() != nil {
			t.Fatalf("get from a failing endpoint: %v (context: %v); want the store's own transient error after its attempts", err, cctx.Err())
		}
		t.Logf("error: %v", err)
	})
}

// An HTTPS endpoint with a private CA works once its bundle is given, and
// fails with a clear message (not after retries) without it.
func TestS3CustomCA(t *testing.T) {
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	u, _ := url.Parse(srv.Endpoint)
	tlsProxy := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}})
	defer tlsProxy.Close()
	opts := srv.Options()
	opts.Endpoint = tlsProxy.URL
	start := time.Now()
	msg := openErr(t, "s3://"+bucket, opts)
	wantAll(t, msg, "does not trust", "CA bundle", "AWS_CA_BUNDLE")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("untrusted certificate took %s to report", took)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsProxy.Certificate().Raw})
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.CACertFile = caFile
	s, err := remote.Open(context.Background(), "s3://"+bucket, opts)
	if err != nil {
		t.Fatalf("open with the CA bundle: %v", err)
	}
	defer s.Close()
	if _, err := s.Put(context.Background(), "k", []byte("over https"), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Get(context.Background(), "k"); err != nil || string(got) != "over https" {
		t.Fatalf("get over https: %q, %v", got, err)
	}
}

// A conditional put whose first request lands on MinIO but whose answer is
// lost: the retry is refused with 412, and Retry must find out that the
// object is its own rather than report a failure (or overwrite blindly).
func TestS3ConditionalPutAnswerLost(t *testing.T) {
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	proxy := newFlakyProxy(t, srv.Endpoint)
	opts := srv.Options()
	opts.Endpoint = proxy.URL
	opts.Retry = remote.RetryOptions{MaxAttempts: 5, BaseDelay: 10 * time.Millisecond}
	ctx := context.Background()
	s, err := remote.Open(ctx, "s3://"+bucket+"/p", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	proxy.mode.Store("lose")

	proxy.failures.Store(1)
	etag, err := s.Put(ctx, "lease", []byte("device A, generation 1"), remote.PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("create-only whose answer was lost: %v", err)
	}
	proxy.failures.Store(1)
	etag2, err := s.Put(ctx, "lease", []byte("device A, generation 2"), remote.PutOptions{IfMatch: etag})
	if err != nil {
		t.Fatalf("CAS whose answer was lost: %v", err)
	}
	info, err := s.Stat(ctx, "lease")
	if err != nil || info.ETag != etag2 {
		t.Fatalf("stat: %+v, %v; want ETag %q", info, err, etag2)
	}
	// Someone else's object is not mistaken for ours.
	proxy.failures.Store(1)
	_, err = s.Put(ctx, "lease", []byte("device B"), remote.PutOptions{IfMatch: etag})
	if !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("stale CAS with a lost answer: %v, want ErrPrecondition", err)
	}
}

// A range body that breaks off after its headers promised more is a
// transient error from OpenRange's reader, not a short read.
func TestS3OpenRangeCutBody(t *testing.T) {
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	u, _ := url.Parse(srv.Endpoint)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}}
	var cut atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cut.Load() || r.Method != http.MethodGet {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer proxy.Close()
	opts := srv.Options()
	opts.Endpoint = proxy.URL
	opts.Retry = remote.RetryOptions{MaxAttempts: 1}
	ctx := context.Background()
	s, err := remote.Open(ctx, "s3://"+bucket+"/p", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := bytes.Repeat([]byte("sealed"), 100_000)
	if _, err := s.Put(ctx, "obj", data, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	cut.Store(true)
	rc, n, err := s.OpenRange(ctx, "obj", 1000, 400_000)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if n != 400_000 || err == nil || !remote.IsTransient(err) {
		t.Fatalf("count %d, read %d bytes, %v; want 400000 and a transient error", n, len(got), err)
	}
	if !bytes.Equal(got, data[1000:1000+len(got)]) {
		t.Fatal("the bytes before the cut are wrong")
	}
}
