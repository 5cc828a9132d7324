package localstate

import (
	"fmt"
	"time"

	"github.com/sealfs/sealfs/fs/meta"
)

// Commit names one commit in messages.
type Commit struct {
	Seq     uint64
	Time    time.Time // the writer's clock
	Device  string
	MountID string
}

func (c Commit) String() string {
	return fmt.Sprintf("commit #%d (device %q, %s)", c.Seq, c.Device, c.Time.Local().Format("2006-01-02 15:04 MST"))
}

func commitOf(h meta.Head) Commit {
	return Commit{Seq: h.Seq, Time: h.Time, Device: h.Device, MountID: h.MountID}
}

func (c *commit) public() Commit {
	return Commit{Seq: c.Seq, Time: time.Unix(0, c.TimeNS), Device: c.Device, MountID: c.MountID}
}

// RollbackError reports a store whose head is older than, or differs from,
// a commit this device has already seen.
type RollbackError struct {
	Store Commit // the head the store presents now
	Seen  Commit // the highest commit this device has seen
}

// Unwrap makes a RollbackError match meta.ErrRollback.
func (e *RollbackError) Unwrap() error { return meta.ErrRollback }

// The message says what is wrong; what to do depends on the command, so
// each adds its own hint (--accept-rollback where it has that flag).
func (e *RollbackError) Error() string {
	if e.Store.Seq == e.Seen.Seq {
		return fmt.Sprintf("the store's last commit #%d (device %q, %s) is not the %s that this device has already seen: "+
			"the store was rolled back and written again, or is serving another copy",
			e.Store.Seq, e.Store.Device, e.Store.Time.Local().Format("2006-01-02 15:04 MST"), e.Seen)
	}
	return fmt.Sprintf("the store's last %s is older than %s that this device has already seen: "+
		"the store was rolled back or is serving a stale copy",
		e.Store, e.Seen)
}

// HighWater is the highest commit this device has seen (zero values and
// ok=false on a device that has not seen the vault).
func (s *State) HighWater() (c Commit, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p.High == nil {
		return Commit{}, false
	}
	return s.p.High.public(), true
}

// CheckRollback returns a *RollbackError if head is older than the
// highest commit this device has seen, or has the same number but another
// writer or time (the store was rolled back and then written again). It
// returns nil on a device that has not seen the vault: a brand-new device
// cannot detect a rollback.
func (s *State) CheckRollback(head meta.Head) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.p.High
	switch {
	case h == nil || head.Seq > h.Seq:
		return nil
	case head.Seq < h.Seq || !sameCommit(h, head):
		return &RollbackError{Store: commitOf(head), Seen: h.public()}
	}
	return nil
}

func sameCommit(c *commit, h meta.Head) bool {
	return c.Seq == h.Seq && c.Device == h.Device && c.MountID == h.MountID && c.TimeNS == h.Time.UnixNano()
}

// Observe raises the high-water mark to head if head is newer and saves
// the state. Call it after opening the head at mount (once CheckRollback
// passed) and after each commit this device makes. It never lowers the
// mark (see Accept).
func (s *State) Observe(head meta.Head) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p.High != nil && head.Seq <= s.p.High.Seq {
		return nil
	}
	return s.set(head, false)
}

// Accept sets the high-water mark to head even if it is older: the user
// accepted a rollback (--accept-rollback).
func (s *State) Accept(head meta.Head) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set(head, true)
}

func (s *State) set(head meta.Head, lower bool) error {
	old := s.p.High
	s.p.High = &commit{Seq: head.Seq, TimeNS: head.Time.UnixNano(), Device: head.Device, MountID: head.MountID}
	if err := s.save(lower); err != nil {
		s.p.High = old
		return err
	}
	return nil
}
