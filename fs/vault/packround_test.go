package vault

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// TestFsyncsSideBySideSharePacks: writers that fsync small files side by
// side (a sync tool's workers: write, fsync, next file) send them in one
// pack per round, not one object each. Four writers, 20 rounds, each round
// ending when all four fsyncs returned; data PUTs take 50 ms, so the
// fsyncs of a round overlap and the vault learns to expect four. The
// gather wait is long (2 s) so that only arrivals end a round: the
// count does not depend on how fast this machine schedules the writers.
// Without gathering each fsync sends its own pack: 80 objects. Then one
// writer goes on alone: it waits for others at most once, and its files
// are sent without waiting after that. Every file reads back on another
// device.
func TestFsyncsSideBySideSharePacks(t *testing.T) {
	const writers, rounds, alone = 4, 20, 10
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, tv *testVault) {
		v := tv.open(t, lingerAnHour, func(o *Options) {
			o.CommitInterval = time.Hour
			o.Tuning.PackGather = 2 * time.Second
		})
		store.Inject(faults.Put, faults.Delay(50*time.Millisecond).If(faults.KeyPrefix(layout.DataPrefix)))
		ctx := context.Background()
		want := map[string][]byte{}
		var mu sync.Mutex
		write := func(name string, seed byte) error {
			data := pattern(seed, 3000+int(seed))
			f, err := v.create(name)
			if err != nil {
				return err
			}
			defer f.Release()
			if _, err := f.WriteAt(ctx, data, 0); err != nil {
				return err
			}
			if err := f.Fsync(ctx); err != nil {
				return err
			}
			mu.Lock()
			want[name] = data
			mu.Unlock()
			return nil
		}
		for r := range rounds {
			errs := make(chan error, writers)
			for w := range writers {
				go func() { errs <- write(fmt.Sprintf("w%d-r%02d.bin", w, r), byte(r*writers+w+1)) }()
			}
			for range writers {
				ok(t, <-errs)
			}
		}
		objects := countObjects(t, store, layout.DataPrefix)
		t.Logf("%d fsyncs of %d writers side by side: %d data objects, %d gathered, %d waits",
			writers*rounds, writers, objects, v.Stats().GatheredFsyncs, v.Stats().GatherWaits)
		if limit := rounds + 2*writers; objects > limit {
			t.Errorf("%d writers fsyncing side by side for %d rounds sent %d data objects; want at most %d (one pack a round)",
				writers, rounds, objects, limit)
		}

		waits := v.Stats().GatherWaits
		for i := range alone {
			ok(t, write(fmt.Sprintf("alone-%02d.bin", i), byte(200+i)))
		}
		if n := v.Stats().GatherWaits - waits; n > 1 {
			t.Errorf("a writer fsyncing alone waited %d times for others to join its pack; want at most once (the first, expecting the writers before)", n)
		}
		v.close(t)
		wantFiles(t, tv.open(t).Vault, want)
	})
}

// TestLoneFsyncsNeverGather: a writer that fsyncs one file after another
// (Syncthing finishes files one at a time, SQLite fsyncs its journal and
// then its database) never waits for other fsyncs to share its pack, even
// with a gather wait of a minute: nobody else has fsynced side by side.
func TestLoneFsyncsNeverGather(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, tv *testVault) {
		v := tv.open(t, lingerAnHour, func(o *Options) {
			o.CommitInterval = time.Hour
			o.Tuning.PackGather = time.Minute
		})
		store.Inject(faults.Put, faults.Delay(5*time.Millisecond).If(faults.KeyPrefix(layout.DataPrefix)))
		ctx := context.Background()
		want := map[string][]byte{}
		for i := range 20 {
			name := fmt.Sprintf("msg-%02d.bin", i)
			want[name] = pattern(byte(i+1), 2000+i)
			f, err := v.create(name)
			ok(t, err)
			_, err = f.WriteAt(ctx, want[name], 0)
			ok(t, err)
			ok(t, f.Fsync(ctx))
			f.Release()
		}
		if s := v.Stats(); s.GatherWaits != 0 || s.GatheredFsyncs != 0 {
			t.Errorf("a lone writer's fsyncs waited %d times and %d joined another's pack; want 0 and 0", s.GatherWaits, s.GatheredFsyncs)
		}
		v.close(t)
		wantFiles(t, tv.open(t).Vault, want)
	})
}

// countObjects counts the objects under prefix.
func countObjects(t testing.TB, s remote.Store, prefix string) int {
	t.Helper()
	n := 0
	ok(t, s.List(context.Background(), prefix, func(remote.ObjectInfo) error { n++; return nil }))
	return n
}
