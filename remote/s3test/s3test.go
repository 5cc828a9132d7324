package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sealfs/sealfs/remote"
)

// S3Server is the running MinIO of this test binary, or the external S3
// server that SEALFS_TEST_S3_ENDPOINT names.
type S3Server struct {
	Endpoint  string // "http://127.0.0.1:PORT"
	AccessKey string
	SecretKey string
	// IfMatch is the form remote.SelfTestConditional should choose here:
	// quoted for MinIO, $SEALFS_TEST_S3_IFMATCH for an external server.
	IfMatch remote.IfMatchForm

	proc *process
}

var (
	once      sync.Once
	server    *S3Server
	serverErr error
	mu        sync.Mutex // guards stopped
	stopped   bool
)

// Main runs the tests, stops the server if one was started, and returns
// m.Run's exit code. Call it from TestMain in every package that uses
// Server, NewBucket or NewStore, either as the whole body (a TestMain that
// returns exits with m.Run's code):
//
//	func TestMain(m *testing.M) { s3test.Main(m) }
//
// or with cleanup of your own: code := s3test.Main(m); ...; os.Exit(code).
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the server and removes its data. Main calls it; call it
// yourself only from a TestMain that cannot use Main.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if stopped {
		return
	}
	stopped = true
	if server != nil && server.proc != nil {
		server.proc.stop()
	}
}

// Server returns the MinIO server of this test binary, starting it on
// first use. It skips (or, with SEALFS_STRICT=1, fails) the test when no
// server can be found, built or started.
func Server(tb testing.TB) *S3Server {
	tb.Helper()
	once.Do(func() { server, serverErr = start() })
	Require(tb, "MinIO S3 server", serverErr)
	mu.Lock()
	defer mu.Unlock()
	if stopped {
		tb.Fatal("s3test: server already stopped")
	}
	return server
}

// Env returns environment variables that point the AWS credential chain
// and sealfs at this server, for tests that run the sealfs binary.
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_REGION=us-east-1",
	}
}

// Options returns remote.Options that reach this server.
func (s *S3Server) Options() remote.Options {
	return remote.Options{
		Endpoint:        s.Endpoint,
		Region:          "us-east-1",
		AccessKeyID:     s.AccessKey,
		SecretAccessKey: remote.Secret(s.SecretKey),
	}
}

// Client returns a plain minio-go client for this server, for tests that
// inspect or tamper with the bucket behind sealfs's back.
func (s *S3Server) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	c, err := minio.New(strings.TrimPrefix(strings.TrimPrefix(s.Endpoint, "http://"), "https://"), &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: strings.HasPrefix(s.Endpoint, "https://"),
		Region: "us-east-1",
	})
	if err != nil {
		tb.Fatalf("s3test: client: %v", err)
	}
	return c
}

// NewBucket creates a bucket with a random name and returns the name. The
// bucket goes away with the server's data directory.
func NewBucket(tb testing.TB) string {
	tb.Helper()
	srv := Server(tb)
	name := "sealfs-test-" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Client(tb).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		tb.Fatalf("s3test: make bucket %s: %v", name, err)
	}
	return name
}

// NewStore returns a store on a fresh bucket, under the prefix "p", with
// retries as remote.Open sets them up. It is closed when the test ends.
func NewStore(tb testing.TB) remote.Store {
	tb.Helper()
	return NewStoreOptions(tb, Server(tb).Options())
}

// OpenStore opens the store at s3://bucket/prefix on the test server,
// e.g. to "remount" a bucket as a second device would. It is closed when
// the test ends.
func OpenStore(tb testing.TB, bucket, prefix string) remote.Store {
	tb.Helper()
	return open(tb, "s3://"+bucket+"/"+prefix, Server(tb).Options())
}

func open(tb testing.TB, location string, opts remote.Options) remote.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := remote.Open(ctx, location, opts)
	if err != nil {
		tb.Fatalf("s3test: open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// NewStoreOptions is NewStore with options (e.g. a Logger or Retry
// settings); the endpoint and credentials must come from Options().
func NewStoreOptions(tb testing.TB, opts remote.Options) remote.Store {
	tb.Helper()
	return open(tb, "s3://"+NewBucket(tb)+"/p", opts)
}

// Require skips the test because what is unavailable (err != nil), or
// fails it when SEALFS_STRICT=1.
func Require(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv("SEALFS_STRICT") == "1" {
		tb.Fatalf("%s unavailable (SEALFS_STRICT=1 forbids skipping): %v", what, err)
		return
	}
	tb.Skipf("skipping: %s unavailable: %v (set SEALFS_STRICT=1 to fail instead)", what, err)
}

// RequireFUSE skips (or, strictly, fails) a test that needs to mount when
// /dev/fuse cannot be opened or the process may not mount directly.
func RequireFUSE(tb testing.TB) {
	tb.Helper()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		if os.Geteuid() != 0 {
			err = fmt.Errorf("mounting directly needs root (uid is %d)", os.Geteuid())
		}
	}
	Require(tb, "FUSE", err)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
