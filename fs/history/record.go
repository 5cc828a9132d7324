package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/wire"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
)

// recordVersion is the first byte of a catalog record's payload.
const recordVersion = 1

// A snapshot id (layout.SnapshotIDLen, 8 lowercase hex digits) has 32
// random bits: a catalog holds at most thousands, and Record retries a
// clash.

// maxDevice bounds the device name, as in the head.
const maxDevice = 1024

// Snapshot is one named point in time of the vault.
type Snapshot struct {
	ID     string    // 8 lowercase hex digits, unique in the catalog
	Time   time.Time // when the snapshot was committed (the writer's clock)
	Device string    // the writer's device name
	Files  uint64    // regular files in the tree
	Bytes  uint64    // their bytes (apparent size)
	// Tree is the meta snapshot the catalog entry names.
	Tree meta.ObjectRef
	// Key is the catalog record's own store key.
	Key string
}

// encodeRecord is the payload of a catalog record:
//
//	version(1) = 1 || string id || varint time (Unix ns) || string device ||
//	uvarint files || uvarint bytes || uvarint tree seq || string tree key ||
//	tree SHA-256 (32)
//
// with uvarint/varint/string as in the metadata payloads (minimal LEB128,
// string = uvarint length || bytes).
func encodeRecord(s *Snapshot) []byte {
	b := []byte{recordVersion}
	b = appendString(b, s.ID)
	b = binary.AppendVarint(b, s.Time.UnixNano())
	b = appendString(b, s.Device)
	b = binary.AppendUvarint(b, s.Files)
	b = binary.AppendUvarint(b, s.Bytes)
	b = binary.AppendUvarint(b, s.Tree.Seq)
	b = appendString(b, s.Tree.Key)
	return append(b, s.Tree.Hash[:]...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errCorrupt marks a record that authenticated but does not decode.
var errCorrupt = errors.New("malformed catalog record")

// decodeRecord parses a payload strictly (fs/internal/wire): no
// non-minimal varint, oversized string or trailing byte passes, so an
// accepted payload re-encodes to the same bytes.
func decodeRecord(p []byte) (*Snapshot, error) {
	r := wire.NewReader(p, func(msg string) error { return fmt.Errorf("%w: %s", errCorrupt, msg) })
	if v := r.Byte(); v != recordVersion && r.Err() == nil {
		return nil, fmt.Errorf("%w: version %d", errCorrupt, v)
	}
	s := &Snapshot{ID: r.String(layout.SnapshotIDLen)}
	s.Time = time.Unix(0, r.Varint())
	s.Device = r.String(maxDevice)
	s.Files, s.Bytes = r.Uvarint(), r.Uvarint()
	s.Tree.Seq = r.Uvarint()
	s.Tree.Key = r.String(64)
	copy(s.Tree.Hash[:], r.Bytes(32))
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return s, nil
}

// openRecord authenticates the record stored under key and checks that it
// names what its key says: the same seq and id, and a meta snapshot key of
// that seq. Anything else wraps crypt.ErrAuth.
func openRecord(k *crypt.Keys, key string, sealed []byte) (*Snapshot, error) {
	seq, id, ok := layout.ParseSnapshotKey(key)
	if !ok {
		return nil, fmt.Errorf("history: %s: not a catalog key: %w", key, crypt.ErrAuth)
	}
	payload, err := crypt.OpenRecord(k.Meta, crypt.KindSnapIndex, seq, sealed)
	if err != nil {
		return nil, fmt.Errorf("history: %s: %w", key, err)
	}
	s, err := decodeRecord(payload)
	if err == nil {
		if mseq, ext, mok := layout.ParseMetaKey(s.Tree.Key); s.ID != id || s.Tree.Seq != seq || !mok || mseq != seq || ext != layout.SnapshotExt {
			err = fmt.Errorf("%w: names id %q, snapshot %q", errCorrupt, s.ID, s.Tree.Key)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("history: %s: %w: %w", key, crypt.ErrAuth, err)
	}
	s.Key = key
	return s, nil
}
