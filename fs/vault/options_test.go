package vault

import "testing"

// TestFollowingOptions: only a read-only mount of the current head
// follows; a read-write mount, a mounted past snapshot and a negative
// interval do not.
func TestFollowingOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		want bool
	}{
		{"read-only", Options{ReadOnly: true}, true},
		{"read-write", Options{}, false},
		{"past snapshot", Options{ReadOnly: true, Snapshot: "3f9a2c1e"}, false},
		{"disabled", Options{ReadOnly: true, FollowInterval: -1}, false},
	} {
		if got := c.o.withDefaults().following(); got != c.want {
			t.Errorf("%s: following = %v, want %v", c.name, got, c.want)
		}
	}
}
