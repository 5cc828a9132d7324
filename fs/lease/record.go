package lease

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sealfs/sealfs/crypt"
)

// Key is the store key of the lease object.
const Key = "lease"

// recordVersion is the first byte of the lease payload.
const recordVersion = 1

// maxString bounds the device name and mount id in a lease record.
const maxString = 1024

// State is what a lease record says about the lease.
type State byte

const (
	// StateNone: there is no lease object (a new vault, or it was deleted).
	StateNone State = 0
	// StateHeld: a device has the vault mounted read-write.
	StateHeld State = 1
	// StateReleased: the last holder unmounted cleanly; anyone may take it.
	StateReleased State = 2
)

func (s State) String() string {
	switch s {
	case StateNone:
		return "none"
	case StateHeld:
		return "held"
	case StateReleased:
		return "released"
	}
	return fmt.Sprintf("state(%d)", byte(s))
}

// record is the payload of the lease object, sealed as the crypt record
// (KindLease, seq = Epoch) under Keys.Lease:
//
//	version(1) = 1 || state(1) || epoch(8) || counter(8) || ttl_ms(8) ||
//	acquired_unix_ms(8, signed) || renewed_unix_ms(8, signed) ||
//	len(2) || device || len(2) || mount id
//
// All integers big endian. The times come from the holder's clock and are
// informational only: no decision depends on them.
type record struct {
	State    State
	Epoch    uint64 // +1 on every change of holder; sealed as the record's seq
	Counter  uint64 // +1 on every write by the same holder (renew, release)
	TTL      time.Duration
	Acquired time.Time // holder's clock
	Renewed  time.Time // holder's clock: last renewal, or the release
	Device   string
	MountID  string
}

const recordFixedSize = 1 + 1 + 8 + 8 + 8 + 8 + 8 + 2 + 2

func (r *record) encode() []byte {
	b := make([]byte, 0, recordFixedSize+len(r.Device)+len(r.MountID))
	b = append(b, recordVersion, byte(r.State))
	b = binary.BigEndian.AppendUint64(b, r.Epoch)
	b = binary.BigEndian.AppendUint64(b, r.Counter)
	b = binary.BigEndian.AppendUint64(b, uint64(r.TTL.Milliseconds()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Acquired.UnixMilli()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Renewed.UnixMilli()))
	b = appendString(b, r.Device)
	return appendString(b, r.MountID)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// errFormat marks a lease payload that authenticated but does not parse.
var errFormat = errors.New("malformed lease record")

// decodeRecord parses a payload strictly: known version and state, no
// trailing bytes, bounded strings, a TTL that fits a time.Duration.
func decodeRecord(b []byte) (*record, error) {
	if len(b) < recordFixedSize {
		return nil, fmt.Errorf("%w: %d bytes", errFormat, len(b))
	}
	if b[0] != recordVersion {
		return nil, fmt.Errorf("%w: version %d (this sealfs reads %d; written by a newer sealfs?)", errFormat, b[0], recordVersion)
	}
	r := &record{State: State(b[1])}
	if r.State != StateHeld && r.State != StateReleased {
		return nil, fmt.Errorf("%w: state %d", errFormat, b[1])
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[2+8*i:]) }
	r.Epoch, r.Counter = u(0), u(1)
	ttl := u(2)
	if ttl == 0 || ttl > uint64(maxTTL.Milliseconds()) {
		return nil, fmt.Errorf("%w: ttl %dms", errFormat, ttl)
	}
	r.TTL = time.Duration(ttl) * time.Millisecond
	r.Acquired = time.UnixMilli(int64(u(3)))
	r.Renewed = time.UnixMilli(int64(u(4)))
	rest := b[2+8*5:]
	var ok bool
	if r.Device, rest, ok = readString(rest); !ok {
		return nil, fmt.Errorf("%w: device name", errFormat)
	}
	if r.MountID, rest, ok = readString(rest); !ok {
		return nil, fmt.Errorf("%w: mount id", errFormat)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errFormat, len(rest))
	}
	return r, nil
}

func readString(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > maxString || n > len(b) {
		return "", nil, false
	}
	return string(b[:n]), b[n:], true
}

// seal encrypts r as the lease object.
func seal(rand io.Reader, keys *crypt.Keys, r *record) ([]byte, error) {
	sealed, err := crypt.SealRecord(rand, keys.Lease, crypt.KindLease, r.Epoch, r.encode())
	if err != nil {
		return nil, fmt.Errorf("lease: seal: %w", err)
	}
	return sealed, nil
}

// CorruptError reports a lease object that cannot be trusted: it failed
// authentication (edited, truncated, replaced, or sealed with another
// vault's key) or it authenticated but does not parse. It is never treated
// as a free or stale lease; Options.Force replaces it.
type CorruptError struct {
	Store string // the store, for the message
	Err   error  // wraps crypt.ErrAuth, or the parse failure
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("lease object %q in %s cannot be trusted (%v): it was damaged or tampered with; "+
		"if no other device has this vault mounted read-write, replace it with --force", Key, e.Store, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// open authenticates and parses a sealed lease object. The epoch is the
// record's seq, read before authentication and then bound by it.
func open(keys *crypt.Keys, store string, sealed []byte) (*record, error) {
	seq, err := crypt.RecordSeq(sealed)
	if err != nil {
		return nil, &CorruptError{Store: store, Err: fmt.Errorf("%w: %v", crypt.ErrAuth, err)}
	}
	payload, err := crypt.OpenRecord(keys.Lease, crypt.KindLease, seq, sealed)
	if err != nil {
		return nil, &CorruptError{Store: store, Err: err}
	}
	r, err := decodeRecord(payload)
	if err != nil {
		return nil, &CorruptError{Store: store, Err: err}
	}
	if r.Epoch != seq {
		return nil, &CorruptError{Store: store, Err: fmt.Errorf("%w: epoch %d sealed as seq %d", errFormat, r.Epoch, seq)}
	}
	return r, nil
}
