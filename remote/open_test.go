package remote_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// openErr opens location and returns the error text, failing if it opened.
func openErr(t *testing.T, location string, opts remote.Options) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := remote.Open(ctx, location, opts)
	if err == nil {
		s.Close()
		t.Fatalf("Open(%q) succeeded", location)
	}
	msg := err.Error()
	t.Logf("Open(%q): %s", location, msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	return msg
}

func wantAll(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not mention %q", msg, p)
		}
	}
}

func TestOpenBadLocation(t *testing.T) {
	for _, c := range []struct {
		loc  string
		want []string
	}{
		{"", []string{"empty store location", "s3://BUCKET"}},
		{"  ", []string{"empty store location"}},
		{"ftp://host/x", []string{`unknown store scheme "ftp"`, "s3://BUCKET"}},
		{"s3://", []string{"missing bucket", "s3://BUCKET"}},
		{"s3:///prefix", []string{"missing bucket"}},
		{"s3://Bad_Bucket!", []string{"invalid bucket name", "Bad_Bucket!"}},
		{"s3://bucket?versionId=1", []string{"malformed store URL", "without query"}},
		{"s3://bucket/a/../b", []string{"invalid prefix"}},
		{"file://", []string{"empty directory"}},
	} {
		t.Run(c.loc, func(t *testing.T) {
			wantAll(t, openErr(t, c.loc, remote.Options{}), c.want...)
		})
	}
}

func TestOpenBadEndpoint(t *testing.T) {
	creds := remote.Options{AccessKeyID: "k", SecretAccessKey: "s"}
	for _, c := range []struct {
		name string
		opts remote.Options
		want []string
	}{
		{"http to a remote host", remote.Options{Endpoint: "http://s3.example.com"}, []string{"refusing plain http", "s3.example.com", "https", "insecure"}},
		{"malformed", remote.Options{Endpoint: "https://"}, []string{"malformed S3 endpoint"}},
		{"with a path", remote.Options{Endpoint: "https://s3.example.com/bucket"}, []string{"malformed S3 endpoint", "s3://BUCKET"}},
		{"ftp", remote.Options{Endpoint: "ftp://s3.example.com"}, []string{"malformed S3 endpoint"}},
		{"missing CA file", remote.Options{Endpoint: "https://127.0.0.1:1", CACertFile: "/nonexistent/ca.pem"}, []string{"CA bundle", "/nonexistent/ca.pem"}},
		{"half credentials", remote.Options{Endpoint: "https://127.0.0.1:1", AccessKeyID: "k"}, []string{"both an access key id and a secret"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.opts.AccessKeyID == "" {
				c.opts.AccessKeyID, c.opts.SecretAccessKey = creds.AccessKeyID, creds.SecretAccessKey
			}
			if c.name == "half credentials" {
				c.opts.SecretAccessKey = ""
			}
			wantAll(t, openErr(t, "s3://bucket", c.opts), c.want...)
		})
	}
	t.Run("CA file without certificates", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "ca.pem")
		os.WriteFile(p, []byte("not a certificate"), 0o600)
		wantAll(t, openErr(t, "s3://bucket", remote.Options{Endpoint: "https://127.0.0.1:1", CACertFile: p, AccessKeyID: "k", SecretAccessKey: "s"}), "holds no PEM")
	})
	t.Run("http allowed to loopback and with Insecure", func(t *testing.T) {
		for _, o := range []remote.Options{
			{Endpoint: "http://localhost:9000"}, {Endpoint: "http://127.0.0.1:9000"}, {Endpoint: "http://[::1]:9000"},
			{Endpoint: "http://s3.example.com", Insecure: true},
		} {
			o.AccessKeyID, o.SecretAccessKey = "k", "s"
			if _, err := remote.NewS3("bucket", "", o); err != nil {
				t.Errorf("endpoint %s insecure=%v: %v", o.Endpoint, o.Insecure, err)
			}
		}
	})
}

// Endpoint down: a closed loopback port fails fast with a clear message.
func TestOpenEndpointDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	msg := openErr(t, "s3://bucket", remote.Options{Endpoint: "http://" + addr, AccessKeyID: "k", SecretAccessKey: "s"})
	wantAll(t, msg, "cannot reach S3 endpoint", addr, "connection refused", "--s3-endpoint")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s to report a refused connection", took)
	}
}

// Endpoint that accepts connections and never answers: bounded by
// ConnectTimeout.
func TestOpenEndpointSilent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	msg := openErr(t, "s3://bucket", remote.Options{Endpoint: "http://" + l.Addr().String(), AccessKeyID: "k", SecretAccessKey: "s", ConnectTimeout: time.Second})
	wantAll(t, msg, "no answer from S3 endpoint", "within 1s")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s with a 1s connect timeout", took)
	}
}

func TestOpenS3AgainstMinIO(t *testing.T) {
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	t.Run("ok", func(t *testing.T) {
		s, err := remote.Open(context.Background(), "s3://"+bucket+"/some/prefix/", srv.Options())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.String(); got != "s3://"+bucket+"/some/prefix" {
			t.Errorf("String() = %q", got)
		}
		if err := remote.SelfTestConditional(context.Background(), s); err != nil {
			t.Errorf("self-test against MinIO: %v", err)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		msg := openErr(t, "s3://no-such-bucket-4711", srv.Options())
		wantAll(t, msg, `bucket "no-such-bucket-4711" does not exist`, srv.Endpoint, "create it first", "mc mb")
	})
	t.Run("wrong secret key", func(t *testing.T) {
		o := srv.Options()
		o.SecretAccessKey = "wrong-secret-key"
		msg := openErr(t, "s3://"+bucket, o)
		wantAll(t, msg, "rejected the secret key", "AWS_SECRET_ACCESS_KEY")
		if strings.Contains(msg, "wrong-secret-key") {
			t.Errorf("error reveals the secret: %q", msg)
		}
	})
	t.Run("unknown access key", func(t *testing.T) {
		o := srv.Options()
		o.AccessKeyID = "nobody"
		wantAll(t, openErr(t, "s3://"+bucket, o), `does not know access key "nobody"`, "AWS_ACCESS_KEY_ID")
	})
	t.Run("credentials from the environment", func(t *testing.T) {
		for _, kv := range srv.Env() {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		s, err := remote.Open(context.Background(), "s3://"+bucket, remote.Options{})
		if err != nil {
			t.Fatalf("open with AWS_* environment: %v", err)
		}
		s.Close()
	})
	t.Run("no credentials", func(t *testing.T) {
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
			"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "AWS_PROFILE",
			"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
			t.Setenv(k, "")
		}
		home := t.TempDir()
		t.Setenv("HOME", home)
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "none"))
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		wantAll(t, openErr(t, "s3://"+bucket, remote.Options{Endpoint: srv.Endpoint}), "no S3 credentials found", "AWS_ACCESS_KEY_ID")
	})
}

func TestOpenDirectory(t *testing.T) {
	root := t.TempDir()
	for _, loc := range []string{filepath.Join(root, "a"), "file://" + filepath.Join(root, "b")} {
		// A missing directory is an error that leaves nothing behind
		// (a mistyped path), unless the caller creates a vault there.
		if _, err := remote.Open(context.Background(), loc, remote.Options{}); !errors.Is(err, remote.ErrNoDir) {
			t.Errorf("open missing %s: %v, want ErrNoDir", loc, err)
		}
		if _, err := os.Stat(strings.TrimPrefix(loc, "file://")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("opening missing %s without CreateDir created it (stat: %v)", loc, err)
		}
		s, err := remote.Open(context.Background(), loc, remote.Options{CreateDir: true})
		if err != nil {
			t.Fatalf("open %s: %v", loc, err)
		}
		if _, err := s.Put(context.Background(), "k", []byte("v"), remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	t.Chdir(root)
	s, err := remote.Open(context.Background(), "a", remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Get(context.Background(), "k"); err != nil || string(got) != "v" {
		t.Fatalf("relative path store: %q, %v", got, err)
	}
	if want := "file://" + filepath.Join(root, "a"); s.String() != want {
		t.Errorf("String() = %q, want %q", s.String(), want)
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Open(context.Background(), filepath.Join(root, "file"), remote.Options{}); err == nil {
		t.Error("opened a regular file as a store")
	}
}
