package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// traffic is what went to the bucket during one measurement.
type traffic struct {
	Puts, Gets, Other int64 // requests by method (HEAD, DELETE, POST, list ... are Other)
	HeadPuts          int64 // PUTs of the commit pointer ("…/head"): one per metadata commit
	Up, Down          int64 // request and response body bytes
	// DataUp is the bytes of the objects PUT under data/ (chunks and
	// packs, without aws-chunked signatures): the file data uploaded.
	DataUp int64
}

// counter is a reverse proxy on loopback in front of the S3 endpoint that
// counts requests and body bytes. Both the raw ceilings and sealfs go
// through it, so its cost is in every figure alike.
type counter struct {
	srv                              *http.Server
	URL                              string
	puts, gets, other, heads, up, dn atomic.Int64
	dataUp                           atomic.Int64

	child *exec.Cmd      // --pin: the proxy runs in this process (see startCounterProcess)
	stdin io.WriteCloser // closing it ends the child
}

// countsPath is where a proxy process answers with its counts (JSON).
const countsPath = "/.sealfs-bench/counts"

// proxyEnv makes the benchmark binary run only the counting proxy, in
// front of the endpoint it names (see serveProxy).
const proxyEnv = "SEALFS_BENCH_PROXY"

// startCounterProcess runs the counting proxy in a child process (this
// program again, with proxyEnv set) pinned to cpu, so that in --pin mode
// its cost lands on the server side with MinIO's, where a deployment's
// network would be.
func startCounterProcess(target string, verbose bool, cpu int) (*counter, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), proxyEnv+"="+target, fmt.Sprintf("SEALFS_BENCH_VERBOSE=%t", verbose))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &counter{child: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		c.close()
		return nil, fmt.Errorf("the proxy process did not start: %w", err)
	}
	c.URL = strings.TrimSpace(line)
	if err := pinProcess(cmd.Process.Pid, cpu); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// serveProxy is the whole program when proxyEnv is set: a counting proxy
// in front of target that prints its URL, answers countsPath, and exits
// when its standard input ends (the benchmark closed it or died).
func serveProxy(target string) error {
	c, err := startCounter(target, os.Getenv("SEALFS_BENCH_VERBOSE") == "true")
	if err != nil {
		return err
	}
	fmt.Println(c.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	c.close()
	return nil
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
		if r.URL.Path == countsPath {
			_ = json.NewEncoder(w).Encode(c.snapshot())
			return
		}
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
		if strings.Contains(r.URL.Path, "/data/") {
			n := r.ContentLength
			if d, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64); err == nil {
				n = d // aws-chunked: the object's length without the chunk signatures
			}
			c.dataUp.Add(max(n, 0))
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
	if c.child != nil {
		return c.remoteSnapshot()
	}
	return traffic{
		Puts: c.puts.Load(), Gets: c.gets.Load(), Other: c.other.Load(),
		HeadPuts: c.heads.Load(), Up: c.up.Load(), Down: c.dn.Load(), DataUp: c.dataUp.Load(),
	}
}

func (t traffic) sub(o traffic) traffic {
	return traffic{
		Puts: t.Puts - o.Puts, Gets: t.Gets - o.Gets, Other: t.Other - o.Other,
		HeadPuts: t.HeadPuts - o.HeadPuts, Up: t.Up - o.Up, Down: t.Down - o.Down, DataUp: t.DataUp - o.DataUp,
	}
}

// remoteSnapshot asks the proxy process for its counts.
func (c *counter) remoteSnapshot() traffic {
	var t traffic
	resp, err := http.Get(c.URL + countsPath)
	if err != nil {
		log.Printf("bench: asking the proxy for its counts: %v", err)
		return t
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		log.Printf("bench: the proxy's counts: %v", err)
	}
	return t
}

func (c *counter) close() {
	if c.child != nil {
		c.stdin.Close()
		_ = c.child.Wait()
		return
	}
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
