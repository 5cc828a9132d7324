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
// result atomically, under an flock on the save lock. lower (Accept) keeps
// this State's mark even if the file's is higher. s.mu is held.
func (s *State) save(lower bool) error {
	dir := filepath.Dir(s.path)
	unlock, err := flock(filepath.Join(dir, saveLockName))
	if err != nil {
		return fmt.Errorf("localstate: save: %w", err)
	}
	defer unlock()
	cur, err := readState(s.path, s.key)
	if err != nil {
		return err
	}
	if cur != nil {
		s.merge(cur, lower)
	}
	plain, err := json.Marshal(&s.p)
	if err != nil {
		return fmt.Errorf("localstate: internal error: %w", err)
	}
	sealed, err := crypt.SealRecord(nil, s.key, crypt.KindLocal, 0, plain)
	clear(plain)
	if err != nil {
		return fmt.Errorf("localstate: %w", err)
	}
	if err := diskio.WriteFile(s.path, sealed, true); err != nil {
		return fmt.Errorf("localstate: save %s: %w", s.path, err)
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

// readState reads and opens the state file: nil, nil if there is none.
func readState(path string, key crypt.Key) (*payload, error) {
	sealed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	p, err := decode(key, sealed)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
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
