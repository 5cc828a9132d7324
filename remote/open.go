package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configure Open. The zero value works: endpoint, region and
// credentials then come from the environment like the AWS CLI's.
type Options struct {
	// Endpoint is the S3 endpoint URL, e.g. "https://s3.eu-west-1.amazonaws.com"
	// or "http://127.0.0.1:9000" (CLI flag --s3-endpoint). Empty means
	// $AWS_ENDPOINT_URL_S3, then $AWS_ENDPOINT_URL, then AWS S3. A host
	// without a scheme means https.
	Endpoint string
	// Region is the bucket's region. Empty means $AWS_REGION, then
	// $AWS_DEFAULT_REGION, then asking the server.
	Region string
	// Insecure allows plain http to an endpoint that is not on loopback.
	// Without it such endpoints are refused: credentials and bucket
	// metadata would cross the network in the clear.
	Insecure bool
	// CACertFile names a PEM bundle trusted in addition to the system roots
	// (for a private CA). Empty means $AWS_CA_BUNDLE, if set.
	CACertFile string
	// AccessKeyID and SecretAccessKey, when both are set, are used instead
	// of the credential chain (environment, ~/.aws/credentials with
	// $AWS_PROFILE, MinIO client config, IAM).
	AccessKeyID     string
	SecretAccessKey Secret
	// Logger, when set, receives one debug record per store call (keys,
	// sizes, durations; never contents) and warnings for failures.
	Logger *slog.Logger
	// Retry configures retries of transient S3 failures; the zero value
	// means the defaults described at RetryOptions.
	Retry RetryOptions
	// ConnectTimeout bounds the reachability and credential check Open does
	// against an S3 endpoint. Zero means 20 seconds.
	ConnectTimeout time.Duration
	// CreateDir creates a local directory store that does not exist yet
	// (for a command that creates a vault). Without it a missing
	// directory is an error, so that a mistyped path leaves nothing
	// behind.
	CreateDir bool
}

// Open returns the store at location:
//
//   - "s3://BUCKET" or "s3://BUCKET/PREFIX": an S3 bucket (see Options).
//     Open checks that the endpoint answers, the credentials are accepted
//     and the bucket exists, and fails with a one-line error naming the
//     cause and the fix otherwise. The store retries transient failures.
//   - "file:///abs/path", "/abs/path" or "rel/path": a local directory
//     store, created if missing with Options.CreateDir.
//
// With Options.Logger set, every call is logged.
func Open(ctx context.Context, location string, opts Options) (Store, error) {
	loc := strings.TrimSpace(location)
	var (
		s   Store
		err error
	)
	switch {
	case loc == "":
		return nil, fmt.Errorf("remote: empty store location: give a directory or s3://BUCKET[/PREFIX]")
	case strings.HasPrefix(strings.ToLower(loc), "s3://"):
		s, err = openS3(ctx, loc, opts)
	case strings.HasPrefix(strings.ToLower(loc), "file://"):
		s, err = openDirLocation(loc[len("file://"):], opts.CreateDir)
	case strings.Contains(loc, "://"):
		scheme := loc[:strings.Index(loc, "://")]
		return nil, fmt.Errorf("remote: unknown store scheme %q in %q: use s3://BUCKET[/PREFIX] or a directory path", scheme, location)
	default:
		s, err = openDirLocation(loc, opts.CreateDir)
	}
	if err != nil {
		return nil, err
	}
	if opts.Logger != nil {
		s = WithLogging(s, opts.Logger)
	}
	if _, isS3 := As[*S3](s); isS3 {
		ro := opts.Retry
		if ro.Logger == nil {
			ro.Logger = opts.Logger
		}
		s = WithRetry(s, ro)
	}
	return s, nil
}

func openDirLocation(path string, create bool) (Store, error) {
	if path == "" {
		return nil, fmt.Errorf("remote: empty directory in store location: give a path such as file:///var/lib/sealfs")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("remote: store directory %q: %w", path, err)
	}
	if !create {
		if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remote: no sealfs vault at %s: %w (create one with 'sealfs init %s', or check the path)", abs, ErrNoDir, abs)
		}
	} else if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("remote: create store directory: %w", err)
	}
	return NewDir(abs)
}

// ErrNoDir is the error of opening a local directory store that does not
// exist without Options.CreateDir.
var ErrNoDir = errors.New("the directory does not exist")
