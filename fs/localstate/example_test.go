package localstate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/localstate"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// mount is the read-write mount sequence of the package documentation, cut
// down to what this package and fs/lease do.
func mount(ctx context.Context, store remote.Store, keys *crypt.Keys, dir, device, id string, head meta.Head) (*lease.Lease, func() error, error) {
	unlock, err := localstate.Lock(dir)
	if err != nil {
		return nil, nil, err
	}
	st, err := localstate.Open(dir, keys.Local)
	if err == nil {
		var l *lease.Lease
		l, err = lease.Acquire(ctx, store, keys, lease.Options{
			Device: device, MountID: id, Observer: st, Reclaim: st.LastMount(),
		})
		if err == nil {
			if err = st.SetMount(id); err == nil {
				if err = st.CheckRollback(head); err == nil {
					err = st.Observe(head)
				}
			}
			if err == nil {
				return l, unlock, nil
			}
			l.Release(ctx)
		}
	}
	unlock()
	return nil, nil, err
}

func Example() {
	ctx := context.Background()
	store, keys := remote.NewMemory(), crypt.DeriveKeys(crypt.Key{1}, crypt.SuiteAES256GCM, 4<<20)
	laptop, _ := os.MkdirTemp("", "laptop")
	phone, _ := os.MkdirTemp("", "phone")
	defer os.RemoveAll(laptop)
	defer os.RemoveAll(phone)
	at := func(s string) time.Time { t, _ := time.Parse(time.DateTime, s); return t }
	h15 := meta.Head{Seq: 15, Time: at("2026-11-25 09:00:00"), Device: "laptop", MountID: "l1"}
	h12 := meta.Head{Seq: 12, Time: at("2026-11-20 10:00:00"), Device: "phone", MountID: "p1"}

	l, unlock, err := mount(ctx, store, keys, laptop, "laptop", "l1", h15)
	fmt.Println("laptop:", err)
	_, _, err = mount(ctx, store, keys, laptop, "laptop", "l2", h15)
	fmt.Println("laptop again:", errors.Is(err, localstate.ErrLocked))
	_, _, err = mount(ctx, store, keys, phone, "phone", "p2", h15)
	var held *lease.HeldError
	fmt.Println("phone while held:", errors.As(err, &held), held.Device)

	l.Release(ctx)
	unlock()
	l, unlock, err = mount(ctx, store, keys, phone, "phone", "p3", h15)
	fmt.Println("phone after release:", err)
	l.Release(ctx)
	unlock()

	_, _, err = mount(ctx, store, keys, laptop, "laptop", "l3", h12) // the store went back to #12
	var rb *localstate.RollbackError
	fmt.Println("laptop, rolled back:", errors.As(err, &rb), rb.Store.Seq, rb.Seen.Seq)
	_, err = os.Stat(filepath.Join(laptop, localstate.FileName))
	fmt.Println("state file:", err)
	// Output:
	// laptop: <nil>
	// laptop again: true
	// phone while held: true laptop
	// phone after release: <nil>
	// laptop, rolled back: true 12 15
	// state file: <nil>
}
