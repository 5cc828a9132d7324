package main

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// traffic is what went to the bucket during one measurement.
type traffic struct {
	Puts, Gets, Other int64 // requests by method (HEAD, DELETE, POST, list ... are Other)
	HeadPuts          int64 // PUTs of the commit pointer ("…/head"): one per metadata commit
	Up, Down          int64 // request and response body bytes
}

// counter is a reverse proxy on loopback in front of the S3 endpoint that
// counts requests and body bytes. Both the raw ceilings and sealfs go
// through it, so its cost is in every figure alike.
type counter struct {
	srv                              *http.Server
	URL                              string
	puts, gets, other, heads, up, dn atomic.Int64
}

func startCounter(target string, verbose bool) (*counter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &counter{URL: "http://" + l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	// The client signed the request for the proxy's address: keep the Host
	// header as sent (the default Director does), so the signature checks.
	rp.Transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		DisableCompression:  true,
	}
	rp.FlushInterval = -1
	if !verbose {
		// A request the client cancelled (read-ahead at unmount) is not news.
		rp.ErrorLog = log.New(io.Discard, "", 0)
	}
	rp.ModifyResponse = func(r *http.Response) error {
		r.Body = &countingBody{ReadCloser: r.Body, n: &c.dn}
		return nil
	}
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.count(r)
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, n: &c.up}
		}
		rp.ServeHTTP(w, r)
	})}
	go c.srv.Serve(l)
	return c, nil
}

func (c *counter) count(r *http.Request) {
	switch r.Method {
	case http.MethodPut:
		c.puts.Add(1)
		if strings.HasSuffix(r.URL.Path, "/head") {
			c.heads.Add(1)
		}
	case http.MethodGet:
		if r.URL.RawQuery == "" || r.URL.Query().Has("partNumber") {
			c.gets.Add(1)
		} else {
			c.other.Add(1) // listings, bucket location ...
		}
	default:
		c.other.Add(1)
	}
}

// snapshot returns the counts so far; subtract two snapshots for a phase.
func (c *counter) snapshot() traffic {
	return traffic{
		Puts: c.puts.Load(), Gets: c.gets.Load(), Other: c.other.Load(),
		HeadPuts: c.heads.Load(), Up: c.up.Load(), Down: c.dn.Load(),
	}
}

func (t traffic) sub(o traffic) traffic {
	return traffic{
		Puts: t.Puts - o.Puts, Gets: t.Gets - o.Gets, Other: t.Other - o.Other,
		HeadPuts: t.HeadPuts - o.HeadPuts, Up: t.Up - o.Up, Down: t.Down - o.Down,
	}
}

func (c *counter) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
