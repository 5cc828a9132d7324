// Package layout owns the names of things in the bucket: every key sealfs
// writes, its constructor and its parser, in one file. docs/FORMAT.md
// ("Bucket layout") describes the same keys. No key contains a file name
// or anything derived from one.
//
// It must not import anything of sealfs but crypt (for object ids): every
// other package that touches the bucket imports it.
package layout

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/sealfs/sealfs/crypt"
)

// The fixed keys and the prefixes.
const (
	// Vault is vault.json: the format version, suite, chunk size and key
	// slots (crypt.Vault).
	Vault = "vault.json"
	// Head names the latest commit; replaced only by compare-and-swap.
	Head = "head"
	// Lease says which mount may commit (fs/lease).
	Lease = "lease"
	// MetaPrefix holds sealed metadata: full checkpoints and journal
	// batches (fs/meta), MetaKey.
	MetaPrefix = "meta/"
	// DataPrefix holds sealed chunk objects and packs, DataKey.
	DataPrefix = "data/"
	// SnapshotPrefix holds the catalog of named snapshots (fs/history),
	// SnapshotKey.
	SnapshotPrefix = "snapshots/"
	// SelfTestPrefix holds the scratch objects of the conditional-write
	// self-test (remote.SelfTestConditional), deleted right after.
	SelfTestPrefix = "selftest/"
)

// Metadata object kinds, the extension of a MetaKey.
const (
	SnapshotExt = ".snap" // a full checkpoint of the tree
	JournalExt  = ".jrnl" // a journal batch
)

// DataKey is the key of a chunk object: "data/<first 2 hex>/<32 hex>".
// The two-digit fan-out keeps directory stores and S3 listings shallow.
func DataKey(id crypt.ObjectID) string {
	h := hex.EncodeToString(id[:])
	return DataPrefix + h[:2] + "/" + h
}

// ParseDataKey returns the object id of a key made by DataKey.
func ParseDataKey(key string) (crypt.ObjectID, bool) {
	const prefix = len(DataPrefix + "xx/")
	if len(key) != prefix+32 || !strings.HasPrefix(key, DataPrefix) {
		return crypt.ObjectID{}, false
	}
	id, err := crypt.ParseObjectID(key[prefix:])
	if err != nil || DataKey(id) != key {
		return crypt.ObjectID{}, false
	}
	return id, true
}

// MetaKey is the key of a metadata object of commit seq:
// "meta/<seq, 16 hex>-<8 hex from rnd><ext>". Keys sort in commit order;
// the random part keeps the upload of a retried commit (same seq) from
// ever replacing another.
func MetaKey(seq uint64, rnd [4]byte, ext string) string {
	return fmt.Sprintf("%s%016x-%x%s", MetaPrefix, seq, rnd, ext)
}

// ParseMetaKey splits a key made by MetaKey. Anything else under
// MetaPrefix is not written by sealfs.
func ParseMetaKey(key string) (seq uint64, ext string, ok bool) {
	rest, found := strings.CutPrefix(key, MetaPrefix)
	if !found || len(rest) != 16+1+8+5 || rest[16] != '-' {
		return 0, "", false
	}
	ext = rest[25:]
	if ext != SnapshotExt && ext != JournalExt || !isLowerHex(rest[:16]) || !isLowerHex(rest[17:25]) {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(rest[:16], 16, 64)
	return seq, ext, err == nil
}

// SnapshotIDLen is the length of a named snapshot's id: 8 lowercase hex.
const SnapshotIDLen = 8

// SnapshotKey is the key of the catalog record of a named snapshot: the
// seq of the checkpoint it names (16 hex, so keys list oldest first) and
// its id: "snapshots/<seq>-<id>".
func SnapshotKey(seq uint64, id string) string {
	return fmt.Sprintf("%s%016x-%s", SnapshotPrefix, seq, id)
}

// ParseSnapshotKey splits a key made by SnapshotKey.
func ParseSnapshotKey(key string) (seq uint64, id string, ok bool) {
	rest, found := strings.CutPrefix(key, SnapshotPrefix)
	if !found || len(rest) != 16+1+SnapshotIDLen || rest[16] != '-' || !isLowerHex(rest[:16]) || !isLowerHex(rest[17:]) {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(rest[:16], 16, 64)
	return seq, rest[17:], err == nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return len(s) > 0
}
