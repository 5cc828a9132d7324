package fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/faults"
)

// TestBackgroundPublishIsTheClosedVersion: a file closed while an earlier
// publish of it is still uploading gets its background publish queued; if
// the app reopens it and starts the next version before that publish
// runs, the publish must commit the closed version, not the one half
// written (a crash would then leave a torn file: tests' TestCrashLoop
// caught it).
func TestBackgroundPublishIsTheClosedVersion(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		mt := v.mount(t, func(o *Options) { o.CommitInterval = time.Hour })
		fsys := mt.m.Vault()
		store.Inject(faults.Put, faults.Delay(300*time.Millisecond).If(faults.KeyPrefix("data/")))
		v1, v2, v3 := pattern(1, 2*testChunk+11), pattern(2, 2*testChunk+22), pattern(3, 2*testChunk+33)
		rewrite := func(data []byte, close bool) *os.File {
			f, err := os.OpenFile(mt.path("wa.db"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
			ok(t, err)
			_, err = f.Write(data)
			ok(t, err)
			if close {
				ok(t, f.Close())
				return nil
			}
			return f
		}
		rewrite(v1, true) // its publish uploads for a while
		rewrite(v2, true) // queued behind it
		f := rewrite(v3[:testChunk+5], false)
		// Commit until the queued publish has landed (the tree holds
		// more than the empty file and version 1), looking from another
		// device.
		var got []byte
		var err error
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			if err = fsys.FsyncDir(context.Background()); err != nil {
				break
			}
			ro := v.readOnly(t)
			got, err = os.ReadFile(ro.path("wa.db"))
			ro.unmount(t)
			if err != nil || len(got) > 0 && !bytes.Equal(got, v1) {
				break // not the created-empty file nor version 1
			}
			time.Sleep(50 * time.Millisecond)
		}
		_, werr := f.Write(v3[testChunk+5:])
		ok(t, errors.Join(werr, f.Close())) // before any Fatal: an open file keeps the mount busy
		ok(t, err)
		if !bytes.Equal(got, v2) {
			t.Errorf("while version 3 was half written, the commit holds %d bytes; want version 2 (%d bytes), the one closed", len(got), len(v2))
		}
		store.Clear()
		mt.unmount(t)
		wantContent(t, v.readOnly(t).path("wa.db"), v3)
	})
}
