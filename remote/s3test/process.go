package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
)

// process is one running MinIO server.
type process struct {
	cmd    *exec.Cmd
	dir    string        // holds data/ and minio.log
	exited chan struct{} // closed when the process has been waited for
}

func start() (*S3Server, error) {
	if ep := os.Getenv("SEALFS_TEST_S3_ENDPOINT"); ep != "" {
		return external(ep)
	}
	bin, err := findMinIO()
	if err != nil {
		return nil, err
	}
	removeStale()
	var lastErr error
	for range 3 { // a free port may be taken between probing and binding
		s, err := launch(bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(bin string) (*S3Server, error) {
	dir, err := os.MkdirTemp("", "sealfs-minio-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	srv := &S3Server{
		Endpoint:  "http://127.0.0.1:" + port,
		AccessKey: "sealfs" + randomHex(6),
		SecretKey: randomHex(20),
	}
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", "--quiet", "--address", "127.0.0.1:"+port,
		"--console-address", "127.0.0.1:"+cport, filepath.Join(dir, "data"))
	cmd.Env = append(withoutMinIOEnv(os.Environ()),
		"MINIO_ROOT_USER="+srv.AccessKey, "MINIO_ROOT_PASSWORD="+srv.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = minioProcAttr()
	os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	p := &process{cmd: cmd, dir: dir, exited: make(chan struct{})}
	if err := p.start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	srv.proc = p
	if err := p.waitReady(srv, 90*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return srv, nil
}

// start starts the process from a goroutine locked to its OS thread for
// the process's whole life: Pdeathsig fires when the *thread* that forked
// exits, and the Go runtime ends threads whose goroutine exits locked, so
// an ordinary thread could take MinIO down in the middle of the tests.
func (p *process) start() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.cmd.Wait()
		close(p.exited)
	}()
	return <-started
}

// removeStale deletes data directories of servers whose test binary died
// without stopping them (killed by a timeout, say).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "sealfs-minio-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(dir)
		}
	}
}

// waitReady polls the health endpoint, then checks that the root
// credentials work.
func (p *process) waitReady(srv *S3Server, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("minio exited at startup: %s", p.logTail())
		default:
		}
		resp, err := hc.Get(srv.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("minio not ready after %s: %s", limit, p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{Creds: srvCreds(srv)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ListBuckets(ctx); err != nil {
		return fmt.Errorf("minio does not accept its root credentials: %w", err)
	}
	return nil
}

// stop terminates the process group and removes the data.
func (p *process) stop() {
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
	os.RemoveAll(p.dir)
}

func (p *process) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "minio.log"))
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// withoutMinIOEnv drops MINIO_* variables that could point the server at
// other drives or credentials.
func withoutMinIOEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") {
			out = append(out, kv)
		}
	}
	return out
}

var errNoMinIO = errors.New("no minio binary")
