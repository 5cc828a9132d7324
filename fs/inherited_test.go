package fs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// TestInheritedCloseDoesNotPublish: a program writing a file starts a
// child process (any exec: the child closes its copies of the O_CLOEXEC
// descriptors, and the kernel sends a flush for each). That flush is not
// the writer's close: the file, half written, must not be published, or
// a commit then (and a crash after it) leaves a torn file. TestCrashLoop
// (tests, run beside tests that start processes) found torn files this
// way. The writer's own close publishes the whole file.
func TestInheritedCloseDoesNotPublish(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	mt := v.mount(t, func(o *Options) { o.CommitInterval = time.Hour })
	full := pattern(7, 3*testChunk+100)
	half := len(full) / 2
	f, err := os.OpenFile(mt.path("msgstore.db"), os.O_CREATE|os.O_WRONLY, 0o644)
	ok(t, err)
	_, err = f.Write(full[:half])
	ok(t, err)
	v0 := mt.m.Vault()
	flushes := v0.Stats().Flushes
	if out, err := exec.Command("true").CombinedOutput(); err != nil { // inherits f until its exec
		t.Fatalf("true: %v %s", err, out)
	}
	// The child's flush arrived, and whatever it queued has run.
	eventually(t, "the child's flush", func() error {
		if n := v0.Stats().Flushes; n == flushes {
			return fmt.Errorf("%d flushes", n)
		}
		return nil
	})
	eventually(t, "background publishes", func() error {
		if n := v0.Stats().BackgroundPublishes; n != 0 {
			return fmt.Errorf("%d running", n)
		}
		return nil
	})
	d, err := os.Open(mt.dir)
	ok(t, err)
	ok(t, errors.Join(d.Sync(), d.Close())) // commit what is published
	ro := v.mount(t, func(o *Options) { o.ReadOnly = true; o.FollowInterval = -1 })
	got, err := os.ReadFile(ro.path("msgstore.db"))
	ro.unmount(t)
	if err == nil && len(got) != 0 {
		t.Errorf("a child's exec published the half-written file: the commit holds %d of %d bytes", len(got), len(full))
	}
	_, err = f.Write(full[half:])
	ok(t, errors.Join(err, f.Close()))
	mt.unmount(t)
	ro = v.mount(t, func(o *Options) { o.ReadOnly = true; o.FollowInterval = -1 })
	got, err = os.ReadFile(ro.path("msgstore.db"))
	ok(t, err)
	if !bytes.Equal(got, full) {
		t.Fatalf("after close and unmount: %d bytes, want %d", len(got), len(full))
	}
}
