package vault

import (
	"context"
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
