package fs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// TestConcurrentWriters: several writers each rewrite, append to, truncate
// and rename their own files while background publishes and commits run;
// every read right after a close (racing the publish) and after remount
// must see exactly the last content.
func TestConcurrentWriters(t *testing.T) {
	// Slow uploads widen the window between a close and its publish.
	store := faults.New(remote.NewMemory())
	store.Inject(faults.Put, faults.Delay(5*time.Millisecond).If(faults.KeyPrefix("data/")))
	v := newVault(t, store, 64<<10)
	mt := v.mount(t, func(o *Options) { o.CommitInterval = 20 * time.Millisecond; o.MemoryBudget = 1 })
	const workers, rounds = 4, 60
	want := make([]map[string][]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		want[w] = map[string][]byte{}
		wg.Go(func() { stressWorker(t, mt, w, rounds, want[w]) })
	}
	wg.Wait()
	mt.unmount(t)
	mt2 := v.mount(t)
	for w := range workers {
		for name, data := range want[w] {
			wantContent(t, mt2.path(name), data)
		}
	}
}

func stressWorker(t *testing.T, mt *mounted, w, rounds int, want map[string][]byte) {
	r := rand.New(rand.NewPCG(uint64(w), 1))
	for i := range rounds {
		name := fmt.Sprintf("w%d-%d", w, r.IntN(3))
		p := mt.path(name)
		cur := want[name]
		switch r.IntN(4) {
		case 0: // rewrite through a temp file and rename, as backup apps do
			data := pattern(byte(i), r.IntN(300<<10))
			if err := os.WriteFile(p+".tmp", data, 0o644); err != nil {
				t.Error(err)
				return
			}
			if err := syscall.Rename(p+".tmp", p); err != nil {
				t.Error(err)
				return
			}
			cur = data
		case 1: // append
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			add := pattern(byte(i+7), r.IntN(100<<10))
			_, err = f.Write(add)
			f.Close()
			if err != nil {
				t.Error(err)
				return
			}
			cur = append(bytes.Clone(cur), add...)
		case 2: // truncate (creating the file if needed)
			size := r.IntN(200 << 10)
			if cur == nil {
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Error(err)
					return
				}
			}
			if err := os.Truncate(p, int64(size)); err != nil {
				t.Error(err)
				return
			}
			cur = append(bytes.Clone(cur), make([]byte, max(0, size-len(cur)))...)[:size]
		case 3: // utimens right after a write
			if cur == nil {
				continue
			}
			mt := time.Unix(int64(1000+i), int64(i))
			if err := os.Chtimes(p, mt, mt); err != nil {
				t.Error(err)
				return
			}
			if st, err := os.Stat(p); err != nil || !st.ModTime().Equal(mt) {
				t.Errorf("%s: mtime %v, %v; want %v", name, st.ModTime(), err, mt)
			}
		}
		want[name] = cur
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, cur) {
			t.Errorf("worker %d round %d: %s: %d bytes (%v), want %d", w, i, name, len(got), err, len(cur))
			return
		}
	}
}
