package fs

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/faults"
)

// TestHealthyUploadsSkipStaging: while the store answers promptly,
// objects go to it straight from memory: nothing is written to the
// staging area, and each object is put once.
func TestHealthyUploadsSkipStaging(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		puts := countDataPuts(store)
		// However slow the machine, no upload counts as slow here.
		mt := v.mount(t, func(o *Options) { o.Tuning.StageAfter = time.Hour })
		files := map[string][]byte{"big": pattern(1, 3*testChunk+7), "small": pattern(2, 900)}
		writeFiles(t, mt.dir, files)
		mt.unmount(t)
		if n := mt.m.Vault().Stats().StagedEver; n != 0 {
			t.Errorf("%d objects staged while the store answers", n)
		}
		if objs := countData(t, v.store); puts.Load() != int64(objs) {
			t.Errorf("%d data PUTs for %d data objects: uploaded more than once", puts.Load(), objs)
		}
		wantFiles(t, v.readOnly(t).dir, files)
	})
}

// TestSlowUploadIsStaged: an upload from memory still running after
// tuning.stageAfter is also written, sealed, to the staging area, so that a crash
// from then on loses nothing; once the upload lands the staged copy goes
// away without a second upload.
func TestSlowUploadIsStaged(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		puts := countDataPuts(store)
		mt := v.mount(t, func(o *Options) { o.Tuning.StageAfter = 50 * time.Millisecond })
		gate := faults.NewGate()
		defer gate.Open()
		store.Inject(faults.Put, faults.Wait(gate).If(faults.KeyPrefix("data/")).Times(1))
		files := map[string][]byte{"slow": pattern(3, testChunk)}
		writeFiles(t, mt.dir, files)
		eventually(t, "the held upload staged", func() error {
			if n := stagedObjects(t, mt.cache); n == 0 {
				return errors.New("nothing staged")
			}
			return nil
		})
		gate.Open() // the upload from memory lands now
		mt.unmount(t)
		if n := stagedObjects(t, mt.cache); n != 0 {
			t.Errorf("%d objects left staged after the upload landed", n)
		}
		if objs := countData(t, v.store); puts.Load() != int64(objs) {
			t.Errorf("%d data PUTs for %d objects: the staged copy was uploaded again", puts.Load(), objs)
		}
		wantFiles(t, v.readOnly(t).dir, files)
	})
}

// countDataPuts counts the PUTs of data objects store sees from now on.
func countDataPuts(store *faults.Store) *atomic.Int64 {
	var n atomic.Int64
	store.Inject(faults.Put, faults.Delay(0).If(func(c faults.Call) bool {
		if strings.HasPrefix(c.Key, "data/") {
			n.Add(1)
		}
		return false
	}))
	return &n
}
