package tests

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/s3test"
)

// cutProxy is a loopback TCP proxy in front of MinIO whose network the
// test can cut: while down it resets new connections and has reset the
// open ones.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: make(map[net.Conn]bool)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.set(true) })
	return p
}

func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (p *cutProxy) set(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			reset(c)
			delete(p.conns, c)
		}
	}
}

func (p *cutProxy) handle(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		reset(c)
		return
	}
	p.conns[c] = true
	p.mu.Unlock()
	b, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[b] = true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
	c.Close()
	b.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, b)
	p.mu.Unlock()
}

// TestCrashDuringOutage: the bucket's network goes away, the app keeps
// writing and closing files (a chat backup), the mount is killed with
// SIGKILL while the bucket is still unreachable; after the network is back
// the next mount on the same device uploads and commits every file that
// was closed before the last commit attempt, and a second device reads
// them all.
func TestCrashDuringOutage(t *testing.T) {
	requireFUSE(t)
	st := s3Store(t)
	srv := s3test.Server(t)
	p := newCutProxy(t, strings.TrimPrefix(srv.Endpoint, "http://"))
	st.env["AWS_ENDPOINT_URL"] = "http://" + p.ln.Addr().String()
	pass := []string{"SEALFS_PASSPHRASE=outage passphrase"}
	dev := newDevice(t, "phone", st.env)
	dev.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)
	flags := []string{"--commit-interval", "300ms", "--device", "phone"}
	mnt := dev.mount(pass, st.location, flags...)
	files := map[string][]byte{"msgstore.db": crashContent("db", 0, 5<<20+3)}
	writeFile(t, filepath.Join(mnt, "msgstore.db"), files["msgstore.db"])

	p.set(true)
	for i := range 6 {
		name := fmt.Sprintf("Media/IMG-%04d.jpg", i)
		files[name] = crashContent(name, 1, 300000+i*70000)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mnt, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mnt, name), files[name], 0o644); err != nil {
			t.Fatalf("writing during the outage: %v", err)
		}
	}
	files["msgstore.db"] = crashContent("db", 2, 6<<20+5) // the nightly rewrite
	if err := os.WriteFile(filepath.Join(mnt, "msgstore.db.tmp"), files["msgstore.db"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "msgstore.db.tmp"), filepath.Join(mnt, "msgstore.db")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a few commit attempts: the intent is written
	kill9(t, mountPID(t, mnt))
	detach(t, mnt)
	staged, _ := filepath.Glob(filepath.Join(dev.cacheDir(), "sealfs", "*", "stage", "objects", "*"))
	if len(staged) == 0 {
		t.Fatalf("nothing staged in the cache directory after the crash")
	}
	for _, f := range staged {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if bytes.Contains(b, data[:64]) || bytes.Contains(b, []byte(name)) {
				t.Fatalf("staged file %s holds plaintext of %s", f, name)
			}
		}
	}

	p.set(false)
	dev.ok(pass, append([]string{"mount", "--daemon"}, append(flags, st.location, mnt)...)...)
	for name, data := range files {
		if got, err := os.ReadFile(filepath.Join(mnt, name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("after the recovery %s: %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
	}
	dev.ok(nil, "umount", mnt)
	left, _ := filepath.Glob(filepath.Join(dev.cacheDir(), "sealfs", "*", "stage", "objects", "*"))
	if len(left) != 0 {
		t.Errorf("%d objects still staged after the recovered mount's clean unmount", len(left))
	}
	laptop := newDevice(t, "laptop", st.env)
	ro := laptop.mount(pass, st.location, "--read-only", "--device", "laptop")
	for name, data := range files {
		if got, err := os.ReadFile(filepath.Join(ro, name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("second device %s: %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
	}
	laptop.ok(nil, "umount", ro)
	if r := dev.run(pass, "check", st.location); r.code != 0 {
		t.Errorf("sealfs check: %s", r)
	}
}
