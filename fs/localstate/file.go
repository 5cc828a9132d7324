package localstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/diskio"
)

// saveLockName is the lock file that serialises saves by several
// processes (a read-write mount and read-only ones, "sealfs info").
const saveLockName = ".state.lock"

// save merges what other processes saved since (a higher mark; their
// lease sighting and mount unless this State set its own) and writes the
// result, under an flock on the save lock. lower (Accept) keeps this
// State's mark even if the file's is higher. s.mu is held.
//
// The usual save writes one slot in place and fdatasyncs it (slots.go).
// The first save in a directory creates the file whole (temporary file,
// fsync, rename, fsync of the directory), carrying over the state of
// legacyFileName, and then leaves the stub there; so does a save whose
// state no longer fits a slot, with larger slots.
func (s *State) save(lower bool) error {
	unlock, err := flock(filepath.Join(s.dir, saveLockName))
	if err != nil {
		return fmt.Errorf("localstate: save: %w", err)
	}
	defer unlock()
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return s.create(lower)
	}
	if err != nil {
		return &FileError{Path: s.path, Err: err}
	}
	defer f.Close()
	cur, err := readSlots(f, s.key)
	if err != nil {
		return &FileError{Path: s.path, Err: err}
	}
	// A crash may have come between creating the file and the stub: write
	// it again, and try again next time if that fails.
	legacy := cur.p.Legacy && s.retireLegacy() != nil
	s.merge(&cur.p, lower)
	s.p.Save = cur.p.Save + 1
	orig, cp, err := s.seal(legacy)
	if err != nil {
		return err
	}
	if slotSize(orig, cp) > cur.size {
		return s.writeWhole(orig, cp)
	}
	slot := make([]byte, cur.size)
	putSlot(slot, orig)
	other := int64(cur.newest)
	target := 1 - other
	if _, err := f.WriteAt(slot, target*cur.size); err != nil {
		return fmt.Errorf("localstate: save %s: %w", s.path, err)
	}
	if err := datasync(f); err != nil {
		return fmt.Errorf("localstate: save %s: %w", s.path, err)
	}
	// The state is durable. Overwrite the older record with a copy, not
	// synced: once written back, damage to either slot loses nothing. The
	// next save writes this slot again, so it never overwrites the only
	// durable copy of the newest state. An error here changes nothing
	// that was promised.
	putSlot(slot, cp)
	_, _ = f.WriteAt(slot, other*cur.size)
	return nil
}

// seal seals s.p as the slot record and its copy; legacy sets the flag
// that makes the next save write the stub again.
func (s *State) seal(legacy bool) (orig, cp []byte, err error) {
	p := s.p
	p.What, p.Version, p.Legacy = payloadWhat, payloadVersion, legacy
	for i, rec := range []*[]byte{&orig, &cp} {
		p.Copy = i == 1
		plain, err := json.Marshal(&p)
		if err != nil {
			return nil, nil, fmt.Errorf("localstate: internal error: %w", err)
		}
		*rec, err = crypt.SealRecord(nil, s.key, crypt.KindLocal, 0, plain)
		clear(plain)
		if err != nil {
			return nil, nil, fmt.Errorf("localstate: %w", err)
		}
	}
	return orig, cp, nil
}

// create writes the first state file of the directory, carrying over
// legacyFileName, then leaves the stub there.
func (s *State) create(lower bool) error {
	cur, err := readLegacy(s.dir, s.key)
	if err != nil {
		return err
	}
	if cur != nil {
		s.merge(cur, lower)
	}
	s.p.Save = 1
	orig, cp, err := s.seal(true)
	if err != nil {
		return err
	}
	if err := s.writeWhole(orig, cp); err != nil {
		return err
	}
	// The state is saved; if the stub cannot be written, the next save
	// tries again (the records say legacy).
	_ = s.retireLegacy()
	return nil
}

// writeWhole replaces the state file with slots holding orig and cp.
func (s *State) writeWhole(orig, cp []byte) error {
	size := slotSize(orig, cp)
	if size > maxSlotSize {
		return fmt.Errorf("localstate: internal error: a state of %d bytes", len(orig))
	}
	b := make([]byte, 2*size)
	putSlot(b[:size], orig)
	putSlot(b[size:], cp)
	if err := diskio.WriteFile(s.path, b, true); err != nil {
		return fmt.Errorf("localstate: save %s: %w", s.path, err)
	}
	return nil
}

// retireLegacy replaces legacyFileName with the stub, once the state file
// holds the state.
func (s *State) retireLegacy() error {
	plain, err := json.Marshal(&payload{What: payloadWhat, Version: payloadVersion})
	if err != nil {
		return fmt.Errorf("localstate: internal error: %w", err)
	}
	sealed, err := crypt.SealRecord(nil, s.key, crypt.KindLocal, 0, plain)
	if err != nil {
		return fmt.Errorf("localstate: %w", err)
	}
	path := filepath.Join(s.dir, legacyFileName)
	if err := diskio.WriteFile(path, sealed, true); err != nil {
		return fmt.Errorf("localstate: save %s: %w", path, err)
	}
	return nil
}

func (s *State) merge(cur *payload, lower bool) {
	if !lower && cur.High != nil && (s.p.High == nil || cur.High.Seq > s.p.High.Seq) {
		s.p.High = cur.High
	}
	if !s.ownLease {
		s.p.Lease = cur.Lease
	}
	if !s.ownMount {
		s.p.Mount = cur.Mount
	}
}

// readState reads the state in dir: nil, nil if there is none. It holds
// the save lock: a save in another process writes a slot in place (a read
// meanwhile could find the slot it writes torn and, slowed down, the other
// one mid-copy) or carries legacyFileName over (a read meanwhile could miss
// both files).
func readState(dir string, key crypt.Key) (*payload, error) {
	unlock, err := flock(filepath.Join(dir, saveLockName))
	if err != nil {
		return nil, fmt.Errorf("localstate: %w", err)
	}
	defer unlock()
	p, err := readSlotsFile(filepath.Join(dir, FileName), key)
	if p != nil || err != nil {
		return p, err
	}
	return readLegacy(dir, key)
}

// readSlotsFile reads the state file: nil, nil if there is none.
func readSlotsFile(path string, key crypt.Key) (*payload, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	defer f.Close()
	s, err := readSlots(f, key)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return &s.p, nil
}

// readLegacy reads legacyFileName: nil, nil if there is none or it is the
// stub.
func readLegacy(dir string, key crypt.Key) (*payload, error) {
	path := filepath.Join(dir, legacyFileName)
	sealed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	p, stub, err := decodeLegacy(key, sealed)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	if stub {
		return nil, nil
	}
	return &p, nil
}

// flock takes an exclusive flock on path (created 0600), waiting for it.
func flock(path string) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f.Close, nil
}
