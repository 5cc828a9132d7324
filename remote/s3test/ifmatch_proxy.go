package s3test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// IfMatchPolicy is how an IfMatchProxy answers a PUT with If-Match.
type IfMatchPolicy int

const (
	// LikeCephRGW answers the quoted form, If-Match: "<etag>", with 412
	// whatever the ETag, as Ceph RGW 16.2 does, and passes the unquoted
	// form, If-Match: <etag>, to the server, which compares it (MinIO
	// honours both forms).
	LikeCephRGW IfMatchPolicy = iota
	// RefuseIfMatch answers every If-Match with 412: a store whose
	// compare-and-swap works in neither form.
	RefuseIfMatch
	// PassIfMatch passes every request: the proxy only counts (what a
	// test measures through it, e.g. DataPutBytes).
	PassIfMatch
)

// IfMatchProxy is a loopback HTTP reverse proxy in front of the test
// server that plays a store with another If-Match behaviour. It answers
// the If-Match PUTs its policy refuses itself, with the S3 XML error Ceph
// RGW sends, and passes every other request through unchanged, Host header
// included, so SigV4 signatures (which cover If-Match and Host) still
// verify at the server.
//
// Its embedded S3Server is the test server as seen through the proxy:
// Endpoint, Env and Options point at the proxy, with the server's
// credentials. Buckets are made with NewBucket as usual.
type IfMatchProxy struct {
	*S3Server
	policy           IfMatchPolicy
	quoted, unquoted atomic.Int64
	dataPut          atomic.Int64
	signed, unsigned atomic.Int64
}

// PutBodies counts the PUTs with a body the proxy has seen by how the
// body was signed: hashed for SigV4 (X-Amz-Content-Sha256 a digest or
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], chunk signatures) or not
// (UNSIGNED-PAYLOAD, or STREAMING-UNSIGNED-PAYLOAD-TRAILER: chunks with
// a trailing checksum but no signature).
func (p *IfMatchProxy) PutBodies() (signed, unsigned int64) {
	return p.signed.Load(), p.unsigned.Load()
}

// DataPutBytes counts the body bytes of the PUTs of chunk objects (keys
// with a data/ path element) the proxy has passed: what a user uploads.
func (p *IfMatchProxy) DataPutBytes() int64 { return p.dataPut.Load() }

// NewIfMatchProxy starts a proxy with policy in front of the test server,
// closed when tb ends.
func NewIfMatchProxy(tb testing.TB, policy IfMatchPolicy) *IfMatchProxy {
	tb.Helper()
	srv := Server(tb)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		tb.Fatalf("s3test: if-match proxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("s3test: if-match proxy: %v", err)
	}
	p := &IfMatchProxy{policy: policy}
	view := *srv
	view.Endpoint = "http://" + ln.Addr().String()
	view.proc = nil // the proxy's view never stops the server
	p.S3Server = &view
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // signed by the client
	}}
	hs := &http.Server{Handler: p.handler(rp)}
	go hs.Serve(ln)
	tb.Cleanup(func() { hs.Close() })
	return p
}

// IfMatchSeen counts the PUTs with If-Match the proxy has seen, by form.
func (p *IfMatchProxy) IfMatchSeen() (quoted, unquoted int64) {
	return p.quoted.Load(), p.unquoted.Load()
}

func (p *IfMatchProxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/data/") {
			n := r.ContentLength
			if d, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64); err == nil {
				n = d // aws-chunked: the length without chunk signatures
			}
			p.dataPut.Add(max(n, 0))
		}
		if r.Method == http.MethodPut && r.ContentLength != 0 {
			if strings.Contains(r.Header.Get("X-Amz-Content-Sha256"), "UNSIGNED-PAYLOAD") {
				p.unsigned.Add(1)
			} else {
				p.signed.Add(1)
			}
		}
		im := r.Header.Get("If-Match")
		if r.Method != http.MethodPut || im == "" || p.policy == PassIfMatch {
			next.ServeHTTP(w, r)
			return
		}
		quoted := strings.HasPrefix(im, `"`) || strings.HasPrefix(im, `W/"`)
		if quoted {
			p.quoted.Add(1)
		} else {
			p.unquoted.Add(1)
		}
		if p.policy == RefuseIfMatch || quoted {
			preconditionFailed(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// preconditionFailed answers like Ceph RGW 16.2.15 does.
func preconditionFailed(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(bucket))
	var id [12]byte
	_, _ = rand.Read(id[:])
	req := "tx" + hex.EncodeToString(id[:])
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", req)
	w.WriteHeader(http.StatusPreconditionFailed)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message></Message><BucketName>%s</BucketName><RequestId>%s</RequestId><HostId>sealfs-test</HostId></Error>`, esc.String(), req)
}
