package vault

import (
	"context"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote/faults"
)

// TestRenamedFileCommitsItsClosedVersion: a file written to a temporary
// name, closed and renamed over the real one is reopened and rewritten
// (O_TRUNC) while its first version is still uploading. A commit then (the
// periodic one, or an fsync of the directory) must publish the renamed
// file with the content it was closed with, never the rewrite in
// progress: committing that is a torn file after a crash. TestCrashLoop
// found this (seed 1796548764620209464): the commit's publish of a
// renamed file took its current content.
func TestRenamedFileCommitsItsClosedVersion(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, tv *testVault) {
		v := tv.open(t, func(o *Options) { o.CommitInterval = 1 << 40 })
		// The first version's upload waits at the gate: its background
		// publish is in flight when the rewrite starts.
		gate := faults.NewGate()
		store.Inject(faults.Put, faults.Wait(gate).If(faults.KeyPrefix("data/")))
		v1, v2 := pattern(1, 2*testChunk+11), pattern(2, 2*testChunk+22)
		ok(t, v.writeFile("wa.db.tmp", v1))
		<-gate.Arrived()
		ok(t, v.Rename(meta.RootIno, "wa.db.tmp", meta.RootIno, "wa.db", 0))
		f, err := v.create("wa.db")
		ok(t, err)
		_, err = f.WriteAt(context.Background(), v2[:testChunk+5], 0)
		ok(t, err)
		gate.Open()
		ok(t, v.FsyncDir(context.Background()))
		ro := tv.readOnly(t)
		wantContent(t, ro.Vault, "wa.db", v1)
		ro.close(t)

		_, err = f.WriteAt(context.Background(), v2[testChunk+5:], testChunk+5)
		ok(t, err)
		ok(t, f.Flush())
		f.Release()
		store.Clear()
		v.close(t)
		wantContent(t, tv.readOnly(t).Vault, "wa.db", v2)
	})
}

// TestOpenWhileCommitting: opens of a file race with a commit that decides
// whether that file is being rewritten. The file was renamed while open
// and changed since its close, so every commit's publish asks whether it
// is open (pubClosed) while other descriptions open and close it. Under
// -race this found publish reading the open count without the lock its
// writers hold (CI, TestModel).
func TestOpenWhileCommitting(t *testing.T) {
	forEachStore(t, func(t *testing.T, tv *testVault) {
		v := tv.open(t, func(o *Options) { o.CommitInterval = 1 << 40 })
		f, err := v.create("msgstore.db.tmp")
		ok(t, err)
		_, err = f.WriteAt(context.Background(), pattern(3, testChunk/2), 0)
		ok(t, err)
		ok(t, v.Rename(meta.RootIno, "msgstore.db.tmp", meta.RootIno, "msgstore.db", 0))
		in, err := v.lookupPath("msgstore.db")
		ok(t, err)

		done := make(chan struct{})
		opened := make(chan error, 1)
		go func() {
			defer close(opened)
			for {
				select {
				case <-done:
					return
				default:
				}
				h, err := v.OpenFile(in.Ino, syscall.O_RDONLY)
				if err != nil {
					opened <- err
					return
				}
				h.Release()
			}
		}()
		for range 50 {
			ok(t, v.FsyncDir(context.Background()))
		}
		close(done)
		ok(t, <-opened)
		ok(t, f.Flush())
		f.Release()
		v.close(t)
		wantContent(t, tv.readOnly(t).Vault, "msgstore.db", pattern(3, testChunk/2))
	})
}
