package localstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/sealfs/sealfs/crypt"
)

// The state file (FileName) is two slots of the same size S, a multiple of
// slotUnit; the file is 2*S bytes. Each slot is:
//
//	magic "SFLS" (4) || layout version 2 (2, big endian) || 0 (2) ||
//	n = sealed record length (4, big endian) || sealed record (n) || zeros
//
// A save writes the slot that does not hold the record it read (the newest)
// in place and fdatasyncs it; then it writes a copy of the same state
// (payload "copy": true) into the other slot without syncing it. A reader
// takes the authenticating record with the highest save counter ("n"),
// preferring the original over its copy. docs/FORMAT.md "Local state file".
const (
	slotMagic         = "SFLS"
	slotLayoutVersion = 2
	slotHeaderSize    = 12
	slotUnit          = 4096
	maxSlotSize       = 16 << 20
)

// slots is the state file as read.
type slots struct {
	size   int64 // one slot's size, S
	newest int   // the slot chosen
	p      payload
}

// damaged wraps crypt.ErrAuth: the file was damaged, edited or is foreign.
func damaged(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), crypt.ErrAuth)
}

// readSlots reads both slots of f and chooses the newest valid one. A slot
// whose record does not authenticate is skipped (a torn write leaves
// nothing else); both skipped is an error wrapping crypt.ErrAuth. A record
// that authenticates but cannot be used (another local file, another
// version, malformed) is an error whatever the other slot holds.
func readSlots(f *os.File, key crypt.Key) (*slots, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: f.Name(), Err: errors.New("not a regular file")}
	}
	n := fi.Size()
	if n < 2*slotUnit || n%(2*slotUnit) != 0 || n > 2*maxSlotSize {
		return nil, damaged("%d bytes is not two slots of a multiple of %d bytes", n, slotUnit)
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, damaged("file shrank while read")
		}
		return nil, err
	}
	s := &slots{size: n / 2, newest: -1}
	var errs [2]error
	for i := range 2 {
		p, err := readSlot(buf[int64(i)*s.size:int64(i+1)*s.size], key)
		if err != nil {
			if !errors.Is(err, crypt.ErrAuth) {
				return nil, fmt.Errorf("slot %d: %w", i, err)
			}
			errs[i] = err
			continue
		}
		if s.newest < 0 || p.Save > s.p.Save || (p.Save == s.p.Save && s.p.Copy && !p.Copy) {
			s.newest, s.p = i, p
		}
	}
	if s.newest < 0 {
		if errs[0].Error() == errs[1].Error() {
			return nil, fmt.Errorf("both slots: %w", errs[0])
		}
		return nil, fmt.Errorf("slot 0: %w; slot 1: %w", errs[0], errs[1])
	}
	return s, nil
}

// readSlot opens one slot's record. Anything that keeps the record from
// authenticating wraps crypt.ErrAuth.
func readSlot(b []byte, key crypt.Key) (payload, error) {
	if string(b[:4]) != slotMagic {
		return payload{}, damaged("not a state slot")
	}
	if v := binary.BigEndian.Uint16(b[4:6]); v != slotLayoutVersion {
		return payload{}, damaged("slot layout version %d (this sealfs reads %d)", v, slotLayoutVersion)
	}
	n := int64(binary.BigEndian.Uint32(b[8:12]))
	if binary.BigEndian.Uint16(b[6:8]) != 0 || n > int64(len(b))-slotHeaderSize {
		return payload{}, damaged("bad slot header")
	}
	return decode(key, b[slotHeaderSize:slotHeaderSize+n])
}

// putSlot fills slot b (all of it) with sealed.
func putSlot(b, sealed []byte) {
	clear(b)
	copy(b, slotMagic)
	binary.BigEndian.PutUint16(b[4:6], slotLayoutVersion)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(sealed)))
	copy(b[slotHeaderSize:], sealed)
}

// slotSize is the smallest slot size that holds each of records.
func slotSize(records ...[]byte) int64 {
	var m int64
	for _, r := range records {
		m = max(m, slotHeaderSize+int64(len(r)))
	}
	return (m + slotUnit - 1) / slotUnit * slotUnit
}
