package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sealfs/sealfs/fs/vault"
)

// The control socket lets 'sealfs umount' ask the serving process to
// unmount and wait until the final commit is in the store. One JSON request
// per connection; the server answers with progress lines and one final line.

type controlRequest struct {
	Op    string `json:"op"`              // "unmount" or "snapshot"
	Store string `json:"store,omitempty"` // snapshot: the store it is meant for
}

type controlReply struct {
	Done  int64  `json:"done,omitempty"`
	Total int64  `json:"total,omitempty"`
	Final bool   `json:"final,omitempty"`
	Error string `json:"error,omitempty"`
	// Staged: the final commit failed and the changes stay sealed in this
	// device's cache (vault.ErrStaged).
	Staged bool `json:"staged,omitempty"`
	// Snapshot answers a snapshot request from the mount of Store;
	// OtherStore says this mount cannot answer for the store requested.
	Snapshot   *snapshotJSON `json:"snapshot,omitempty"`
	Store      string        `json:"store,omitempty"`
	OtherStore bool          `json:"other_store,omitempty"`
}

// runtimeDir holds control sockets; never anything secret. It must be
// ours alone (control_dir.go).
func runtimeDir() string {
	if os.Geteuid() == 0 {
		return "/run/sealfs"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "sealfs")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("sealfs-%d", os.Geteuid()))
}

// controlPath names the socket in dir of the mount at mountpoint (absolute
// path).
func controlPath(dir, mountpoint string) string {
	sum := sha256.Sum256([]byte(mountpoint))
	return filepath.Join(dir, hex.EncodeToString(sum[:12])+".sock")
}

// mountHandle is what the control server needs from a mount.
type mountHandle interface {
	Unmount() error
	Progress() (done, total int64)
}

type controlServer struct {
	ln        net.Listener
	path      string
	m         mountHandle
	inflight  sync.WaitGroup
	closeOnce sync.Once
	stopOnce  sync.Once
	exit      chan struct{} // closed by exited; nil: replies do not wait
	exitErr   error
	exitOnce  sync.Once
}

// waitForExit makes the final reply to an unmount wait until exited is
// called (bounded by exitWait): the mount command releases the writer
// lease after the mount ends, and 'sealfs umount' promises that when it
// returns the process is done with the store (issue 23: a test that
// compared the bucket right after umount saw the lease change). Call it
// before start.
func (c *controlServer) waitForExit() { c.exit = make(chan struct{}) }

// exited says the process is done with the store; err is what closing
// the device (releasing the lease) returned. A no-op on nil.
func (c *controlServer) exited(err error) {
	if c == nil || c.exit == nil {
		return
	}
	c.exitOnce.Do(func() {
		c.exitErr = err
		close(c.exit)
	})
}

// exitWait bounds how long an unmount's reply waits for exited: releasing
// the lease is one PUT, retried while the store does not answer.
const exitWait = time.Minute

// listenControl listens on the socket of mountpoint in dir, which it makes
// or checks private first (an *untrustedError if it cannot be trusted).
// Requests wait until start.
func listenControl(dir, mountpoint string) (*controlServer, error) {
	if err := makePrivateDir(dir); err != nil {
		return nil, err
	}
	path := controlPath(dir, mountpoint)
	_ = os.Remove(path) // a stale socket of a crashed mount at the same place
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	_ = os.Chmod(path, 0o600)
	return &controlServer{ln: ln, path: path}, nil
}

// start answers requests for m until close.
func (c *controlServer) start(m mountHandle) {
	c.m = m
	go c.serve()
}

func (c *controlServer) serve() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.inflight.Add(1)
		go func() {
			defer c.inflight.Done()
			defer conn.Close()
			c.handle(conn)
		}()
	}
}

func (c *controlServer) handle(conn net.Conn) {
	var req controlRequest
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		return
	}
	if req.Op == "snapshot" {
		c.handleSnapshot(conn, req)
		return
	}
	enc := json.NewEncoder(conn)
	if req.Op != "unmount" {
		_ = enc.Encode(controlReply{Final: true, Error: "unknown request " + req.Op})
		return
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				done, total := c.m.Progress()
				_ = enc.Encode(controlReply{Done: done, Total: total})
			}
		}
	}()
	err := c.m.Unmount()
	if err == nil && c.exit != nil {
		select {
		case <-c.exit:
			err = c.exitErr
		case <-time.After(exitWait):
		}
	}
	close(stop)
	reply := controlReply{Final: true}
	if err != nil {
		reply.Error = err.Error()
		reply.Staged = errors.Is(err, vault.ErrStaged)
	}
	_ = enc.Encode(reply)
}

// stopAccepting closes the socket; replies in flight go on. A no-op on
// nil and after the first call.
func (c *controlServer) stopAccepting() {
	if c == nil {
		return
	}
	c.stopOnce.Do(func() {
		c.ln.Close()
		_ = os.Remove(c.path)
	})
}

// close stops accepting and waits (bounded) for replies in flight; a
// no-op on nil and after the first call.
func (c *controlServer) close() {
	if c == nil {
		return
	}
	c.closeOnce.Do(func() {
		c.stopAccepting()
		done := make(chan struct{})
		go func() { c.inflight.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
}

// requestUnmount asks the serving process of mountpoint, through its
// socket in dir, to unmount and commit; progress is called with each
// update. errNoServer means nothing answered on the socket.
func requestUnmount(ctx context.Context, dir, mountpoint string, progress func(done, total int64)) error {
	conn, err := dialControl(ctx, dir, controlPath(dir, mountpoint))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(controlRequest{Op: "unmount"}); err != nil {
		return errNoServer
	}
	dec := json.NewDecoder(bufio.NewReader(conn))
	for {
		var r controlReply
		if err := dec.Decode(&r); err != nil {
			return errors.New("the sealfs process exited without confirming the final commit: check its log, then mount again to finish")
		}
		if !r.Final {
			progress(r.Done, r.Total)
			continue
		}
		if r.Staged {
			return withCode(exitStaged, errors.New(r.Error), "mount again on this device once the store is reachable to finish")
		}
		if r.Error != "" {
			return errors.New(r.Error)
		}
		return nil
	}
}

var errNoServer = errors.New("no sealfs process answers for this mount")
