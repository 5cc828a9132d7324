package s3test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sealfs/sealfs/remote"
)

// external is the S3 server named by SEALFS_TEST_S3_ENDPOINT (with
// SEALFS_TEST_S3_ACCESS_KEY and SEALFS_TEST_S3_SECRET_KEY, and the If-Match
// form it honours in SEALFS_TEST_S3_IFMATCH) instead of a private MinIO:
// tests/ceph.sh points the tests at Ceph RGW this way.
// Every test still gets its own bucket; the buckets are left behind, so
// use a throwaway server.
func external(endpoint string) (*S3Server, error) {
	srv := &S3Server{
		Endpoint:  endpoint,
		AccessKey: os.Getenv("SEALFS_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("SEALFS_TEST_S3_SECRET_KEY"),
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("SEALFS_TEST_S3_ENDPOINT=%q is not an http(s)://HOST[:PORT] URL", endpoint)
	}
	if srv.AccessKey == "" || srv.SecretKey == "" {
		return nil, fmt.Errorf("SEALFS_TEST_S3_ENDPOINT is set but SEALFS_TEST_S3_ACCESS_KEY or SEALFS_TEST_S3_SECRET_KEY is not")
	}
	switch f := os.Getenv("SEALFS_TEST_S3_IFMATCH"); f {
	case "", "quoted":
		srv.IfMatch = remote.IfMatchQuoted
	case "unquoted":
		srv.IfMatch = remote.IfMatchUnquoted
	default:
		return nil, fmt.Errorf("SEALFS_TEST_S3_IFMATCH=%q: use quoted or unquoted", f)
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: srvCreds(srv), Secure: u.Scheme == "https", Region: "us-east-1"})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ListBuckets(ctx); err != nil {
		return nil, fmt.Errorf("S3 server at SEALFS_TEST_S3_ENDPOINT=%s: %w", endpoint, err)
	}
	return srv, nil
}
