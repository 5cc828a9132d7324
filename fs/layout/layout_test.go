package layout_test

import (
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// TestKeysRoundTrip: every constructor's key parses back to what made it,
// and keys of the other kinds, or near misses, do not parse.
func TestKeysRoundTrip(t *testing.T) {
	id := crypt.ObjectID{0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	dk := layout.DataKey(id)
	if dk != "data/ab/abcd0102030405060708090a0b0c0d0e" {
		t.Errorf("DataKey = %q", dk)
	}
	if got, ok := layout.ParseDataKey(dk); !ok || got != id {
		t.Errorf("ParseDataKey(%q) = %v, %v", dk, got, ok)
	}
	mk := layout.MetaKey(0x2a, [4]byte{1, 2, 3, 0xff}, layout.JournalExt)
	if mk != "meta/000000000000002a-010203ff.jrnl" {
		t.Errorf("MetaKey = %q", mk)
	}
	if seq, ext, ok := layout.ParseMetaKey(mk); !ok || seq != 0x2a || ext != layout.JournalExt {
		t.Errorf("ParseMetaKey(%q) = %d, %q, %v", mk, seq, ext, ok)
	}
	sk := layout.SnapshotKey(7, "3f9a2c1e")
	if seq, sid, ok := layout.ParseSnapshotKey(sk); !ok || seq != 7 || sid != "3f9a2c1e" {
		t.Errorf("ParseSnapshotKey(%q) = %d, %q, %v", sk, seq, sid, ok)
	}
	for _, bad := range []string{
		"data/ac/abcd0102030405060708090a0b0c0d0e", // fan-out does not match
		"data/ab/ABCD0102030405060708090a0b0c0d0e", // upper case
		"data/ab/abcd0102030405060708090a0b0c0d",   // short
		mk, sk, layout.Head, "",
	} {
		if _, ok := layout.ParseDataKey(bad); ok {
			t.Errorf("ParseDataKey(%q) accepted it", bad)
		}
	}
	for _, bad := range []string{"meta/000000000000002a-010203ff.snapx", "meta/000000000000002A-010203ff.jrnl", "meta/2a-010203ff.jrnl", dk, sk} {
		if _, _, ok := layout.ParseMetaKey(bad); ok {
			t.Errorf("ParseMetaKey(%q) accepted it", bad)
		}
	}
	for _, bad := range []string{"snapshots/0000000000000007-3f9a2c1", "snapshots/0000000000000007_3f9a2c1e", dk, mk} {
		if _, _, ok := layout.ParseSnapshotKey(bad); ok {
			t.Errorf("ParseSnapshotKey(%q) accepted it", bad)
		}
	}
}

// TestSelfTestPrefix: remote's conditional-write self-test writes under
// the prefix the layout reserves for it (remote cannot import this
// package: it sits below fs).
func TestSelfTestPrefix(t *testing.T) {
	if remote.SelfTestPrefix != layout.SelfTestPrefix {
		t.Errorf("remote.SelfTestPrefix %q, layout.SelfTestPrefix %q", remote.SelfTestPrefix, layout.SelfTestPrefix)
	}
}
