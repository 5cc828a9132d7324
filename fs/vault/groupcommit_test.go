package vault

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote/faults"
)

// TestGroupCommit: fsyncs that wait while another's commit is under way
// return once a commit holding their changes is in the store, without a
// commit of their own, even when other changes (here: an xattr set during
// the commit, as a sync tool's next temporary file would be) left the
// tree dirty again. Two fsyncs publish while a commit is held back; the
// first to commit holds both; the second sees that and returns: one head
// written for the two. Both files read back after a reopen.
func TestGroupCommit(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, tv *testVault) {
		v := tv.open(t, func(o *Options) { o.CommitInterval = time.Hour })
		ctx := context.Background()
		files, want := twoWritten(t, v)
		before := v.mlog.Head().Seq

		// Both fsyncs publish, then wait for the commit lock, held here.
		v.commitMu.Lock()
		errs := make(chan error, len(files))
		var wg sync.WaitGroup
		for _, f := range files {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- f.Fsync(ctx) }()
		}
		eventually(t, "both files published", func() error {
			if n := v.Stats().DirtyFiles; n != 0 {
				return fmt.Errorf("%d files not published", n)
			}
			return nil
		})
		// The first commit's head put waits at the gate; meanwhile another
		// change arrives, after the commit took its ops.
		gate := faults.NewGate()
		store.Inject(faults.Put, faults.Wait(gate).If(faults.KeyPrefix(layout.Head)).Times(1))
		v.commitMu.Unlock()
		<-gate.Arrived()
		root, err := v.lookupPath("/")
		ok(t, err)
		ok(t, v.SetXattr(root.Ino, "user.next", []byte("1"), 0))
		gate.Open()
		wg.Wait()
		close(errs)
		for err := range errs {
			ok(t, err)
		}
		if got := v.mlog.Head().Seq - before; got != 1 {
			t.Errorf("two fsyncs waiting together made %d commits; want 1 (the second one's changes were in the first)", got)
		}
		if got := v.Stats().GroupedFsyncs; got != 1 {
			t.Errorf("GroupedFsyncs = %d, want 1", got)
		}
		if !v.tree.Dirty() {
			t.Errorf("the xattr set during the commit is not pending: the test did not make the tree dirty again")
		}
		for _, f := range files {
			f.Release()
		}
		v.close(t)
		wantFiles(t, tv.open(t).Vault, want)
	})
}

// TestGroupCommitWaitsForUploads: a commit made for an fsync waits for
// the fsyncs still uploading their file's data, so that one commit holds
// them all. The first fsync's upload is held at a gate; the second one's
// goes through and its commit waits; once the first upload lands, one
// head holds both files (without the wait: two commits, the second
// fsync's alone, then the first's). Both read back after a reopen.
func TestGroupCommitWaitsForUploads(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, tv *testVault) {
		v := tv.open(t, func(o *Options) { o.CommitInterval = time.Hour; o.Tuning.GroupCommitWait = time.Minute })
		ctx := context.Background()
		files, want := twoWritten(t, v)
		before := v.mlog.Head().Seq

		gate := faults.NewGate()
		store.Inject(faults.Put, faults.Wait(gate).If(faults.KeyPrefix(layout.DataPrefix)).Times(1))
		errs := make(chan error, len(files))
		go func() { errs <- files[0].Fsync(ctx) }()
		<-gate.Arrived() // the first fsync's upload waits
		second := make(chan error, 1)
		go func() { second <- files[1].Fsync(ctx) }()
		eventually(t, "the second fsync's commit waits for the first upload, or the fsync returns", func() error {
			select {
			case err := <-second:
				errs <- err
				second = nil
				return nil
			default:
			}
			if v.Stats().GroupWaits == 0 {
				return fmt.Errorf("no commit waits yet")
			}
			return nil
		})
		gate.Open()
		if second != nil {
			errs <- <-second
		}
		for range files {
			ok(t, <-errs)
		}
		if got := v.mlog.Head().Seq - before; got != 1 {
			t.Errorf("two fsyncs side by side made %d commits; want 1 (the second one's commit waits for the first upload)", got)
		}
		if got := v.Stats().GroupedFsyncs; got != 1 {
			t.Errorf("GroupedFsyncs = %d, want 1", got)
		}
		for _, f := range files {
			f.Release()
		}
		v.close(t)
		wantFiles(t, tv.open(t).Vault, want)
	})
}

// twoWritten creates two small files in v, open, with unpublished data,
// and commits the creates: an fsync of either commits only its data.
func twoWritten(t *testing.T, v *opened) ([2]*File, map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	var files [2]*File
	want := map[string][]byte{}
	for i := range files {
		name := fmt.Sprintf("part-%d.bin", i)
		want[name] = pattern(byte(i+1), 3000)
		f, err := v.create(name)
		ok(t, err)
		_, err = f.WriteAt(ctx, want[name], 0)
		ok(t, err)
		files[i] = f
	}
	ok(t, v.commit(ctx))
	return files, want
}

// TestGroupCommitSkipsBigUploads: a commit does not wait for the fsync of
// a file with several chunks to upload (longer than a commit: waiting for
// it would only delay the small file's fsync). The big file's first chunk
// is held at a gate while a small file is fsynced, with a group wait of a
// minute: the small fsync returns, and no commit waited.
func TestGroupCommitSkipsBigUploads(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, tv *testVault) {
		v := tv.open(t, func(o *Options) { o.CommitInterval = time.Hour; o.Tuning.GroupCommitWait = time.Minute })
		ctx := context.Background()
		files, want := twoWritten(t, v)
		big, err := v.create("video.mp4")
		ok(t, err)
		want["video.mp4"] = pattern(9, 3*testChunk)
		_, err = big.WriteAt(ctx, want["video.mp4"], 0)
		ok(t, err)
		ok(t, v.commit(ctx)) // its create, and its chunks: complete ones are already sent
		_, err = big.WriteAt(ctx, []byte("edited"), testChunk/2)
		ok(t, err)
		_, err = big.WriteAt(ctx, []byte("edited"), 2*testChunk+10)
		ok(t, err)
		copy(want["video.mp4"][testChunk/2:], "edited")
		copy(want["video.mp4"][2*testChunk+10:], "edited")

		gate := faults.NewGate()
		store.Inject(faults.Put, faults.Wait(gate).If(faults.KeyPrefix(layout.DataPrefix)).Times(1))
		bigDone := make(chan error, 1)
		go func() { bigDone <- big.Fsync(ctx) }()
		<-gate.Arrived() // the big file's upload waits
		ok(t, files[0].Fsync(ctx))
		if n := v.Stats().GroupWaits; n != 0 {
			t.Errorf("%d commits waited for a file of several chunks to upload; want 0", n)
		}
		gate.Open()
		ok(t, <-bigDone)
		for _, f := range append(files[:], big) {
			f.Release()
		}
		v.close(t)
		wantFiles(t, tv.open(t).Vault, want)
	})
}
