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

	"github.com/minio/minio-go/v7"
)

// mapErr turns a minio-go error into the Store contract's errors, marks
// transient ones, and rewrites setup problems (bucket, credentials,
// endpoint) into one-line messages that name the fix. cond says the
// request was a conditional put.
func (s *S3) mapErr(op, key string, err error, cond bool) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("remote: %s %q: %w", op, key, err)
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		if IsTransient(err) || transportFailure(err) {
			return fmt.Errorf("remote: %s %q at %s: %w", op, key, s.endpoint, markTransient(err))
		}
		return fmt.Errorf("remote: %s %q at %s: %w", op, key, s.endpoint, err)
	}
	switch {
	case resp.Code == minio.NoSuchKey && cond:
		// AWS answers If-Match on a missing key with 404.
		return fmt.Errorf("remote: %s %q: key does not exist: %w", op, key, ErrPrecondition)
	case resp.Code == minio.NoSuchKey:
		return fmt.Errorf("remote: %s %q: %w", op, key, ErrNotFound)
	case resp.Code == minio.PreconditionFailed || resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("remote: %s %q: %w", op, key, ErrPrecondition)
	case resp.Code == minio.NoSuchBucket:
		return fmt.Errorf("remote: bucket %q does not exist at %s: create it first (e.g. mc mb ALIAS/%s, or aws s3 mb s3://%s)", s.bucket, s.endpoint, s.bucket, s.bucket)
	case resp.Code == "InvalidAccessKeyId":
		return fmt.Errorf("remote: S3 endpoint %s does not know access key %q: check AWS_ACCESS_KEY_ID (or AWS_PROFILE and ~/.aws/credentials)", s.endpoint, s.accessKey)
	case resp.Code == "SignatureDoesNotMatch":
		return fmt.Errorf("remote: S3 endpoint %s rejected the secret key of access key %q: check AWS_SECRET_ACCESS_KEY (or AWS_PROFILE and ~/.aws/credentials)", s.endpoint, s.accessKey)
	case resp.Code == minio.AccessDenied && s.anonymous:
		return fmt.Errorf("remote: no S3 credentials found for %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with ~/.aws/credentials)", s.endpoint)
	case resp.Code == minio.AccessDenied:
		return fmt.Errorf("remote: %s %q: access denied to bucket %q for access key %q: grant it list, get, put and delete on the bucket", op, key, s.bucket, s.accessKey)
	case cond && (resp.Code == "NotImplemented" || resp.StatusCode == http.StatusNotImplemented):
		// Stores without conditional writes answer the headers with 501.
		return fmt.Errorf("remote: %s %q at %s: HTTP %d %s: %w", op, key, s.endpoint, resp.StatusCode, resp.Code, ErrNoConditionalWrites)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusRequestTimeout ||
		resp.Code == "SlowDown" || resp.Code == "RequestTimeout":
		// 409 is S3's ConditionalRequestConflict: a concurrent conditional
		// write is in flight; asking again yields 200 or 412.
		return fmt.Errorf("remote: %s %q at %s: HTTP %d %s: %w", op, key, s.endpoint, resp.StatusCode, resp.Code, markTransient(err))
	}
	return fmt.Errorf("remote: %s %q at %s: HTTP %d %s: %w", op, key, s.endpoint, resp.StatusCode, resp.Code, err)
}

// transportFailure reports whether err is an HTTP request that failed on
// the way (connection closed, reset or cut short mid-request) rather than
// one that can never work (certificate rejected, unknown host).
func transportFailure(err error) bool {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return false
	}
	var dns *net.DNSError
	return !(errors.As(err, &dns) && dns.IsNotFound) && !certificateProblem(err)
}

// certificateProblem reports whether err is a TLS verification failure:
// asking again cannot help, a CA bundle can.
func certificateProblem(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &record) || errors.As(err, &verify)
}
