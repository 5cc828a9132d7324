package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sealfs/sealfs/remote/s3test"
)

// errNoMinIO wraps the reason a private MinIO could not be started.
var errNoMinIO = errors.New("cannot start MinIO")

// env is the S3 endpoint (behind the counting proxy), the sealfs binary
// and the scratch directory of one benchmark run.
type env struct {
	cfg       config
	proxy     *counter
	accessKey string
	secretKey string
	client    *minio.Client // through the proxy
	bin       string        // the sealfs binary
	work      string        // scratch directory, removed at the end
	floor     floor         // --pin: the CPU floor per MiB, measured on the client CPU
	closers   []func()
}

// setup starts MinIO (unless cfg.Endpoint is given), the counting proxy,
// and builds the sealfs binary.
func setup(cfg config) (_ *env, err error) {
	e := &env{cfg: cfg}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.work, err = os.MkdirTemp("", "sealfs-bench-"); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { os.RemoveAll(e.work) })
	if cfg.Pin {
		// This process and all it starts from now on (sealfs, cp, ...)
		// run on the client CPU; the server side is moved off it below.
		if err := pinProcess(os.Getpid(), clientCPU); err != nil {
			return nil, err
		}
	}
	e.floor = measureFloor()
	endpoint := cfg.Endpoint
	if endpoint == "" {
		srv, err := s3test.StartServer()
		if err != nil {
			return nil, fmt.Errorf("%w (or give --endpoint): %w", errNoMinIO, err)
		}
		e.closers = append(e.closers, srv.Close)
		endpoint, e.accessKey, e.secretKey = srv.Endpoint, srv.AccessKey, srv.SecretKey
		if cfg.Pin {
			pid := processByArg("minio", strings.TrimPrefix(endpoint, "http://"))
			if pid == 0 {
				return nil, fmt.Errorf("--pin: cannot find the MinIO process serving %s", endpoint)
			}
			if err := pinProcess(pid, serverCPU); err != nil {
				return nil, err
			}
		}
	} else {
		e.accessKey, e.secretKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if e.accessKey == "" || e.secretKey == "" {
			return nil, fmt.Errorf("--endpoint needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
		}
	}
	if cfg.ProfileDir != "" && !cfg.Verbose {
		// go-fuse logs through the standard logger; in-process it would
		// flood the table (see docs/PERFORMANCE.md on trySplice).
		log.SetOutput(io.Discard)
	}
	if cfg.Pin {
		e.proxy, err = startCounterProcess(endpoint, cfg.Verbose, serverCPU)
	} else {
		e.proxy, err = startCounter(endpoint, cfg.Verbose)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the counting proxy: %w", err)
	}
	e.closers = append(e.closers, e.proxy.close)
	e.client, err = minio.New(strings.TrimPrefix(e.proxy.URL, "http://"), &minio.Options{
		Creds:  credentials.NewStaticV4(e.accessKey, e.secretKey, ""),
		Region: "us-east-1",
	})
	if err != nil {
		return nil, err
	}
	if e.bin = cfg.Binary; e.bin == "" {
		e.bin = filepath.Join(e.work, "sealfs")
		build := exec.Command("go", "build", "-o", e.bin, "github.com/sealfs/sealfs/cmd/sealfs")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/sealfs: %v: %s", err, out)
		}
	}
	// The daemon re-executes its own resolved path: find it by that.
	if e.bin, err = filepath.Abs(e.bin); err == nil {
		e.bin, err = filepath.EvalSymlinks(e.bin)
	}
	if err != nil {
		return nil, fmt.Errorf("--sealfs: %w", err)
	}
	return e, nil
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// newBucket makes a fresh bucket for one workload.
func (e *env) newBucket(ctx context.Context) (string, error) {
	name := "sealfs-bench-" + randomHex(5)
	if err := e.client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		return "", fmt.Errorf("make bucket %s: %w", name, err)
	}
	return name, nil
}

// storeEnv points the sealfs binary (and remote.Open) at the proxy.
func (e *env) storeEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + e.accessKey,
		"AWS_SECRET_ACCESS_KEY=" + e.secretKey,
		"AWS_ENDPOINT_URL=" + e.proxy.URL,
		"AWS_REGION=us-east-1",
	}
}

// tempDir makes a directory under the run's scratch directory.
func (e *env) tempDir(pattern string) (string, error) {
	return os.MkdirTemp(e.work, pattern)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
