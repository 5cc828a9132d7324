package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// parseS3Location splits "s3://BUCKET[/PREFIX]" into bucket and prefix
// ("" or ending in "/").
func parseS3Location(loc string) (bucket, prefix string, err error) {
	rest := loc[len("s3://"):]
	if strings.ContainsAny(rest, "?#\\") {
		return "", "", fmt.Errorf("remote: malformed store URL %q: use s3://BUCKET[/PREFIX] without query or fragment", loc)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("remote: missing bucket in %q: use s3://BUCKET[/PREFIX]", loc)
	}
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return "", "", fmt.Errorf("remote: invalid bucket name %q in %q: %v", bucket, loc, err)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return "", "", fmt.Errorf("remote: invalid prefix %q in %q: use slash-separated names without empty, . or .. parts", prefix, loc)
		}
		prefix += "/"
	}
	return bucket, prefix, nil
}

// s3Endpoint resolves the endpoint URL and enforces the https rule.
func s3Endpoint(opts Options) (*url.URL, error) {
	ep := firstNonEmpty(opts.Endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"), "https://s3.amazonaws.com")
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("remote: malformed S3 endpoint %q: use https://HOST[:PORT]", ep)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("remote: malformed S3 endpoint %q: give only scheme, host and port (the bucket goes in s3://BUCKET)", u.Redacted())
	}
	if u.Scheme == "http" && !opts.Insecure && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("remote: refusing plain http to S3 endpoint %s: credentials and data would cross the network unencrypted: use https, or allow it explicitly with the insecure option (--s3-insecure)", u.Host)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// s3Transport is sized for many parallel transfers to one host and bounds
// every phase that can hang on a dead endpoint.
func s3Transport(opts Options) (*http.Transport, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile := firstNonEmpty(opts.CACertFile, os.Getenv("AWS_CA_BUNDLE")); caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("remote: read CA bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("remote: CA bundle %s holds no PEM certificates", caFile)
		}
		tlsConf.RootCAs = pool
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		TLSClientConfig:       tlsConf,
	}, nil
}

// s3Credentials returns explicit credentials or the standard chain.
func s3Credentials(opts Options, tr http.RoundTripper) (*credentials.Credentials, error) {
	if opts.AccessKeyID != "" || opts.SecretAccessKey != "" {
		if opts.AccessKeyID == "" || opts.SecretAccessKey == "" {
			return nil, fmt.Errorf("remote: S3 credentials need both an access key id and a secret access key")
		}
		return credentials.NewStaticV4(opts.AccessKeyID, opts.SecretAccessKey.Reveal(), ""), nil
	}
	iamClient := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.FileAWSCredentials{},
		&credentials.FileMinioClient{},
		&credentials.IAM{Client: iamClient},
	}), nil
}

// NewS3 returns the store for bucket and prefix without contacting the
// server; Open also checks that the bucket is reachable.
func NewS3(bucket, prefix string, opts Options) (*S3, error) {
	u, err := s3Endpoint(opts)
	if err != nil {
		return nil, err
	}
	tr, err := s3Transport(opts)
	if err != nil {
		return nil, err
	}
	creds, err := s3Credentials(opts, tr)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Transport:    tr,
		Region:       firstNonEmpty(opts.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")),
		BucketLookup: minio.BucketLookupAuto,
		// One attempt per call: WithRetry decides what may be resent, and
		// must never resend a conditional put blindly.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("remote: S3 client for %s: %w", u.Host, err)
	}
	s := &S3{client: client, core: minio.Core{Client: client}, bucket: bucket, prefix: prefix,
		endpoint: u.Scheme + "://" + u.Host, transport: tr,
		unsignedBody: u.Scheme == "https" || isLoopback(u.Hostname()),
		http: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
	if v, err := creds.GetWithContext(nil); err == nil {
		s.anonymous = v.SignerType.IsAnonymous()
		s.accessKey = v.AccessKeyID
	}
	return s, nil
}

func openS3(ctx context.Context, loc string, opts Options) (Store, error) {
	bucket, prefix, err := parseS3Location(loc)
	if err != nil {
		return nil, err
	}
	s, err := NewS3(bucket, prefix, opts)
	if err != nil {
		return nil, err
	}
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	if err := s.check(ctx, timeout); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// check lists at most one key: that needs a reachable endpoint, valid
// credentials, list permission and an existing bucket.
func (s *S3) check(ctx context.Context, timeout time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lopts := minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true, MaxKeys: 1}
	for oi := range s.client.ListObjectsIter(cctx, s.bucket, lopts) {
		if oi.Err == nil {
			break
		}
		if ctx.Err() == nil && cctx.Err() != nil {
			return fmt.Errorf("remote: no answer from S3 endpoint %s within %s: check --s3-endpoint / AWS_ENDPOINT_URL and that the server is up", s.endpoint, timeout)
		}
		return s.checkErr(oi.Err)
	}
	return nil
}

// checkErr explains why the first request to the endpoint failed.
func (s *S3) checkErr(err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return s.mapErr("open", "", err, false)
	}
	cause := err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err // without the request URL
	}
	if certificateProblem(err) {
		return fmt.Errorf("remote: S3 endpoint %s presented a certificate this machine does not trust: %w: give its CA bundle (--s3-ca-cert FILE, or AWS_CA_BUNDLE)", s.endpoint, cause)
	}
	var oe *net.OpError
	if errors.As(cause, &oe) {
		cause = oe.Err
	}
	return fmt.Errorf("remote: cannot reach S3 endpoint %s: %w: check --s3-endpoint / AWS_ENDPOINT_URL and that the server is up", s.endpoint, cause)
}
