package lease

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrLost means another device (or a forced mount) took the lease over
	// from this mount. The mount must stop committing at once and say so:
	// the head compare-and-swap would refuse its commits anyway.
	ErrLost = errors.New("lease lost: another device took over this vault, so this mount can no longer save changes")
	// ErrExpired means this mount has not renewed its lease for most of
	// its TTL (the store was unreachable or slow), so another device may
	// by now consider it stale. Commits must wait until a renewal succeeds
	// (which Run keeps trying) or ErrLost says the lease is gone.
	ErrExpired = errors.New("lease not renewed in time")
	// ErrReleased is returned by Renew and Check after Release.
	ErrReleased = errors.New("lease already released")
)

// HeldError is returned by Acquire when another mount holds a live lease.
// The CLI maps it to its own exit code.
type HeldError struct {
	Device      string        // the holder's device name
	MountID     string        // the holder's mount instance
	Since       time.Time     // when the holder took the lease, by its clock
	LastRenewed time.Time     // its last renewal, by its clock
	TTL         time.Duration // the holder's TTL
	// RetryAfter is how much longer this device must see the lease
	// unchanged before it counts as stale (a crashed holder).
	RetryAfter time.Duration
	// SameDevice: the holder has this device's name (another mount here,
	// or one that crashed).
	SameDevice bool
}

func (e *HeldError) Error() string {
	if e.SameDevice {
		return fmt.Sprintf("vault is held by another mount on this device (%q) since %s: "+
			"unmount it, mount read-only with --read-only, wait %s if it crashed, or take over with --force",
			e.Device, formatTime(e.Since), roundUp(e.RetryAfter))
	}
	return fmt.Sprintf("vault is held by device %q since %s (mounted read-write there): "+
		"unmount it there, mount read-only here with --read-only, wait %s if it crashed, or take over with --force",
		e.Device, formatTime(e.Since), roundUp(e.RetryAfter))
}

// formatTime shows a holder's timestamp in this device's time zone.
func formatTime(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "an unknown time"
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}

// roundUp rounds d up to a whole second (at least 1s), for messages.
func roundUp(d time.Duration) time.Duration {
	r := d.Truncate(time.Second)
	if r < d || r <= 0 {
		r += time.Second
	}
	return r
}

// lostError describes who has the lease now; cur may be nil (deleted).
func lostError(cur *record, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%w (the lease object cannot be read: %v)", ErrLost, err)
	case cur == nil:
		return fmt.Errorf("%w (the lease object was deleted)", ErrLost)
	case cur.State == StateReleased:
		return fmt.Errorf("%w (device %q took it and has released it since)", ErrLost, cur.Device)
	}
	return fmt.Errorf("%w (device %q has held it since %s)", ErrLost, cur.Device, formatTime(cur.Acquired))
}
