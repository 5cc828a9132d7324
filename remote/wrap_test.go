package remote_test

import (
	"log/slog"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

func TestAsFindsUnderWrappers(t *testing.T) {
	mem := remote.NewMemory()
	s := remote.WithRetry(remote.WithLogging(faults.New(mem), slog.New(slog.DiscardHandler)), remote.RetryOptions{})
	if got, ok := remote.As[*remote.Memory](s); !ok || got != mem {
		t.Fatalf("As[*Memory] = %v, %v; want the memory store under retry, logging and faults", got, ok)
	}
	if got, ok := remote.As[*remote.Logging](s); !ok || got == nil {
		t.Fatalf("As[*Logging] = %v, %v", got, ok)
	}
	if _, ok := remote.As[*remote.S3](s); ok {
		t.Fatal("As[*S3] found an S3 store in a memory stack")
	}
	if _, ok := remote.As[*remote.Memory](nil); ok {
		t.Fatal("As on nil found something")
	}
}
