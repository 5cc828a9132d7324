package meta

import (
	"context"
	"testing"

	"github.com/sealfs/sealfs/remote/faults"
	"github.com/sealfs/sealfs/remote/s3test"
)

func TestMain(m *testing.M) { s3test.Main(m) }

// TestS3 runs the persistence tests against a real S3 server (MinIO), whose
// conditional puts and ETags are what the head swap relies on.
func TestS3(t *testing.T) {
	if testing.Short() {
		t.Skip("S3 tests need a MinIO server")
	}
	t.Run("model", func(t *testing.T) {
		summary, err := runModel(7, 1500, s3test.NewStore(t))
		if err != nil {
			t.Fatalf("seed 7: %v", err)
		}
		t.Log(summary)
	})
	t.Run("fenced", func(t *testing.T) { runFenced(t, s3test.NewStore(t)) })
	t.Run("head put lost, read back fails", func(t *testing.T) {
		runCommitFault(t, s3test.NewStore(t), 100, func(f *faults.Store) {
			f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).If(isHead))
			f.Inject(faults.Get, faults.Fail(faults.ErrServer).If(isHead))
		}, nil, true, true)
	})
	t.Run("head put fails", func(t *testing.T) {
		runCommitFault(t, s3test.NewStore(t), 1, func(f *faults.Store) {
			f.Inject(faults.Put, faults.Fail(faults.ErrServer).If(isHead))
		}, nil, true, false)
	})
	t.Run("create twice", func(t *testing.T) {
		s := s3test.NewStore(t)
		newVault(t, s, LogOptions{})
		if _, err := Create(context.Background(), s, testKeys(), NewTree(testChunk, 0, 0, 1), LogOptions{}); err == nil {
			t.Fatal("second Create on S3 succeeded")
		}
	})
}
