package history

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// series makes snapshots at the given times (oldest first), id = "sN".
func series(times ...time.Time) []Snapshot {
	out := make([]Snapshot, len(times))
	for i, tm := range times {
		out[i] = Snapshot{ID: fmt.Sprintf("s%d", i), Time: tm}
	}
	return out
}

func ids(snaps []Snapshot) string {
	var out []string
	for _, s := range snaps {
		out = append(out, s.ID)
	}
	return strings.Join(out, " ")
}

func TestPolicy(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	// Two snapshots a day on Nov 1-5, at 09:00 and 21:00: s0..s9.
	var times []time.Time
	for d := 1; d <= 5; d++ {
		times = append(times, day(d, 9), day(d, 21))
	}
	snaps := series(times...)
	cases := []struct {
		name string
		p    Policy
		keep string
	}{
		{"zero policy keeps all", Policy{}, "s0 s1 s2 s3 s4 s5 s6 s7 s8 s9"},
		{"keep-last 1", Policy{KeepLast: 1}, "s9"},
		{"keep-last 3", Policy{KeepLast: 3}, "s7 s8 s9"},
		{"keep-last more than there are", Policy{KeepLast: 50}, "s0 s1 s2 s3 s4 s5 s6 s7 s8 s9"},
		{"keep-within 24h of the newest", Policy{KeepWithin: 24 * time.Hour}, "s7 s8 s9"},
		{"keep-within 1s keeps the newest", Policy{KeepWithin: time.Second}, "s9"},
		{"keep-daily 2: newest of the two last days", Policy{KeepDaily: 2}, "s7 s9"},
		{"keep-daily 10: newest of each day", Policy{KeepDaily: 10}, "s1 s3 s5 s7 s9"},
		{"rules add up", Policy{KeepLast: 2, KeepDaily: 3}, "s5 s7 s8 s9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Location = time.UTC
			keep, forget := tc.p.Apply(snaps)
			if got := ids(keep); got != tc.keep {
				t.Fatalf("kept %q, want %q", got, tc.keep)
			}
			if len(keep)+len(forget) != len(snaps) {
				t.Fatalf("kept %d + forgot %d != %d", len(keep), len(forget), len(snaps))
			}
			for _, f := range forget {
				if slices.ContainsFunc(keep, func(k Snapshot) bool { return k.ID == f.ID }) {
					t.Fatalf("%s both kept and forgotten", f.ID)
				}
			}
			// Rerunning on what was kept (an interrupted prune's rerun)
			// forgets nothing more.
			again, more := tc.p.Apply(keep)
			if len(more) != 0 || ids(again) != tc.keep {
				t.Fatalf("rerun kept %q, forgot %q", ids(again), ids(more))
			}
		})
	}
	if keep, _ := (Policy{KeepLast: 1}).Apply(nil); len(keep) != 0 {
		t.Fatal("a policy kept snapshots out of none")
	}
}

func TestPolicyDailyUsesLocation(t *testing.T) {
	// 23:30 UTC on Nov 1 is already Nov 2 in UTC+1.
	snaps := series(time.Date(2026, 11, 1, 22, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 23, 30, 0, 0, time.UTC))
	utc, _ := Policy{KeepDaily: 5, Location: time.UTC}.Apply(snaps)
	cet, _ := Policy{KeepDaily: 5, Location: time.FixedZone("UTC+1", 3600)}.Apply(snaps)
	if ids(utc) != "s1" || ids(cet) != "s0 s1" {
		t.Fatalf("keep-daily: UTC kept %q (want s1), UTC+1 kept %q (want s0 s1)", ids(utc), ids(cet))
	}
}
