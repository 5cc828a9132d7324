package remote_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

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
