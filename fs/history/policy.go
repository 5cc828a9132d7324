package history

import (
	"fmt"
	"strings"
	"time"
)

// Policy says which snapshots to keep, with restic's semantics: a snapshot
// is kept if any rule keeps it, and the newest is always kept. The zero
// Policy keeps everything.
type Policy struct {
	// KeepLast keeps the n newest snapshots.
	KeepLast int
	// KeepWithin keeps every snapshot taken within this duration before the
	// newest one (not before now: a vault nobody wrote to for a year keeps
	// its last days of history).
	KeepWithin time.Duration
	// KeepDaily keeps, for each of the n most recent days that have
	// snapshots, the newest snapshot of that day.
	KeepDaily int
	// Location is the time zone whose days KeepDaily counts (nil = local).
	Location *time.Location
}

// IsZero reports whether p has no rule (it then keeps everything).
func (p Policy) IsZero() bool { return p.KeepLast <= 0 && p.KeepWithin <= 0 && p.KeepDaily <= 0 }

// String describes p for messages, e.g. "keep-last 3, keep-within 720h0m0s".
func (p Policy) String() string {
	var parts []string
	if p.KeepLast > 0 {
		parts = append(parts, fmt.Sprintf("keep-last %d", p.KeepLast))
	}
	if p.KeepWithin > 0 {
		parts = append(parts, "keep-within "+p.KeepWithin.String())
	}
	if p.KeepDaily > 0 {
		parts = append(parts, fmt.Sprintf("keep-daily %d", p.KeepDaily))
	}
	if len(parts) == 0 {
		return "keep all"
	}
	return strings.Join(parts, ", ")
}

// Apply splits snaps (oldest first, as List returns them) into those p
// keeps and those it forgets, both oldest first.
func (p Policy) Apply(snaps []Snapshot) (keep, forget []Snapshot) {
	if p.IsZero() || len(snaps) == 0 {
		return snaps, nil
	}
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	newest := snaps[len(snaps)-1].Time
	kept := make([]bool, len(snaps))
	kept[len(snaps)-1] = true
	days, lastDay := 0, ""
	for i := len(snaps) - 1; i >= 0; i-- { // newest first
		s := snaps[i]
		rank := len(snaps) - 1 - i
		if rank < p.KeepLast {
			kept[i] = true
		}
		if p.KeepWithin > 0 && !s.Time.Before(newest.Add(-p.KeepWithin)) {
			kept[i] = true
		}
		if day := s.Time.In(loc).Format(time.DateOnly); day != lastDay && days < p.KeepDaily {
			kept[i] = true
			days++
			lastDay = day
		}
	}
	for i, s := range snaps {
		if kept[i] {
			keep = append(keep, s)
		} else {
			forget = append(forget, s)
		}
	}
	return keep, forget
}
