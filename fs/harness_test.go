package fs

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// TestUnmountWithFileLeftOpen: the harness's unmount of a mount on which
// a test left a file open (as a test that fails between an open and its
// close does) reports it and returns, instead of waiting for ever, and
// the file's late close does not hang either.
func TestUnmountWithFileLeftOpen(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	mt := v.mount(t)
	f, err := os.Create(mt.path("left-open"))
	ok(t, err)
	_, err = f.Write([]byte("data"))
	ok(t, err)
	rec := &recordTB{TB: t}
	mt.unmount(rec)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "aborted") {
		t.Errorf("unmount with a file left open reported %q, want one error saying the connection was aborted", rec.errs)
	}
	_ = f.Close() // ENOTCONN: the connection is gone
}

// recordTB records what a helper reports instead of failing the test.
type recordTB struct {
	testing.TB
	errs []string
}

func (r *recordTB) Helper() {}

func (r *recordTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
