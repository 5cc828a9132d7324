package lease

import (
	"context"
	"fmt"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// Info describes the lease in the store, for "sealfs info". The times are
// the holder's clock.
type Info struct {
	State    State
	Device   string
	MountID  string
	Epoch    uint64
	Acquired time.Time     // when the holder took it
	Renewed  time.Time     // its last renewal, or when it was released
	TTL      time.Duration // the holder's TTL
}

// Read returns the lease in the store without changing it: State is
// StateNone when there is no lease object; an object that cannot be
// authenticated is a *CorruptError.
func Read(ctx context.Context, store remote.Store, keys *crypt.Keys) (Info, error) {
	r, _, err := get(ctx, store, keys)
	if err != nil || r == nil {
		return Info{}, err
	}
	return Info{
		State: r.State, Device: r.Device, MountID: r.MountID, Epoch: r.Epoch,
		Acquired: r.Acquired, Renewed: r.Renewed, TTL: r.TTL,
	}, nil
}

// String describes the lease in one line, e.g. `held by device "laptop"
// since 2026-11-26 23:40 UTC (last renewed 2026-11-27 00:10 UTC, holder's
// clock)`.
func (i Info) String() string {
	switch i.State {
	case StateNone:
		return "not held (no lease object)"
	case StateHeld:
		return fmt.Sprintf("held by device %q since %s (last renewed %s, holder's clock)",
			i.Device, formatTime(i.Acquired), formatTime(i.Renewed))
	case StateReleased:
		return fmt.Sprintf("free (released by device %q at %s, its clock)", i.Device, formatTime(i.Renewed))
	}
	return i.State.String()
}
