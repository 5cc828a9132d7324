package s3test_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

func TestMain(m *testing.M) { s3test.Main(m) }

func TestServerRoundTrip(t *testing.T) {
	srv := s3test.Server(t)
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on loopback", srv.Endpoint)
	}
	s := s3test.NewStore(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "a/b", []byte("hello"), remoteOpts()); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Get(ctx, "a/b")
	if err != nil || !bytes.Equal(got, []byte("hello")) {
		t.Fatalf("get = %q, %v; want hello", got, err)
	}
	if !strings.HasPrefix(s.String(), "s3://sealfs-test-") {
		t.Errorf("store %s is not on a test bucket", s)
	}
}

func TestOpenStoreSeesSameBucket(t *testing.T) {
	bucket := s3test.NewBucket(t)
	a, b := s3test.OpenStore(t, bucket, "x"), s3test.OpenStore(t, bucket, "x")
	ctx := context.Background()
	if _, err := a.Put(ctx, "k", []byte("v"), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := b.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("second store: %q, %v", got, err)
	}
	if _, _, err := s3test.OpenStore(t, bucket, "y").Get(ctx, "k"); err == nil {
		t.Fatal("another prefix sees the key")
	}
}

func TestBucketsAreSeparate(t *testing.T) {
	a, b := s3test.NewBucket(t), s3test.NewBucket(t)
	if a == b {
		t.Fatalf("two NewBucket calls returned %q", a)
	}
	found, err := s3test.Server(t).Client(t).BucketExists(context.Background(), a)
	if err != nil || !found {
		t.Fatalf("bucket %s: exists=%v err=%v", a, found, err)
	}
}

// fakeTB records whether Require skipped or failed.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestRequireSkipsUnlessStrict(t *testing.T) {
	for _, strict := range []string{"", "0", "1"} {
		t.Run("SEALFS_STRICT="+strict, func(t *testing.T) {
			t.Setenv("SEALFS_STRICT", strict)
			f := &fakeTB{TB: t}
			s3test.Require(f, "thing", errors.New("missing"))
			if wantFail := strict == "1"; f.failed != wantFail || f.skipped == wantFail {
				t.Errorf("failed=%v skipped=%v, want failed=%v", f.failed, f.skipped, wantFail)
			}
			g := &fakeTB{TB: t}
			s3test.Require(g, "thing", nil)
			if g.failed || g.skipped {
				t.Errorf("Require with nil error: failed=%v skipped=%v", g.failed, g.skipped)
			}
		})
	}
}

func remoteOpts() (o remote.PutOptions) { return }
