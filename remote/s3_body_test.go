package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// stashTransport answers every request at once, without reading its
// body, and keeps the body: net/http's transport may go on reading a
// request body after RoundTrip returned (golang/go#51907).
type stashTransport struct {
	mu     sync.Mutex
	bodies []io.ReadCloser
}

func (t *stashTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.bodies = append(t.bodies, req.Body)
	t.mu.Unlock()
	h := http.Header{}
	h.Set("ETag", `"0123456789abcdef0123456789abcdef"`)
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: h, Body: http.NoBody,
		Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// TestS3PutLendsItsBuffer: once Put returns, nothing reads the caller's
// buffer any more, even a transport still holding the request body, so
// the caller may seal the next object into it (fs/vault's sealBufs): a
// late read fails and yields none of the buffer's bytes. Both ways a
// body is sent: minio-go's PutObject, and the presigned request for an
// RGW's unquoted If-Match.
func TestS3PutLendsItsBuffer(t *testing.T) {
	for _, unquoted := range []bool{false, true} {
		s, err := NewS3("bucket", "", Options{Endpoint: "http://127.0.0.1:9", AccessKeyID: "k", SecretAccessKey: "s", Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		tr := &stashTransport{}
		s.client, err = minio.New("127.0.0.1:9", &minio.Options{Creds: credentials.NewStaticV4("k", "s", ""),
			Transport: tr, Region: "us-east-1", MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		s.core = minio.Core{Client: s.client}
		s.http = &http.Client{Transport: tr}
		opts := PutOptions{}
		if unquoted {
			s.ifMatch.Store(uint32(IfMatchUnquoted))
			opts.IfMatch = "0123456789abcdef0123456789abcdef"
		}
		data := bytes.Repeat([]byte("sealed bytes "), 1<<16)
		if _, err := s.Put(context.Background(), "k", data, opts); err != nil {
			t.Fatalf("unquoted %v: %v", unquoted, err)
		}
		if len(tr.bodies) != 1 {
			t.Fatalf("unquoted %v: %d requests with a body, want 1", unquoted, len(tr.bodies))
		}
		late, err := io.ReadAll(tr.bodies[0])
		if !errors.Is(err, errBodyReturned) || bytes.Contains(late, []byte("sealed bytes")) {
			t.Fatalf("unquoted %v: read %d bytes of the body after Put returned (err %v), want none and errBodyReturned", unquoted, len(late), err)
		}
	}
}
