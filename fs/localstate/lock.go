package localstate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFileName is the lock file's name inside the state directory.
const LockFileName = "lock"

// ErrLocked is returned by Lock while another process holds the lock.
var ErrLocked = errors.New("another sealfs process on this device has this vault mounted read-write")

// Lock takes an exclusive lock on the state directory (an flock on
// dir/lock, created with mode 0600), so that only one process on this
// device mounts the vault read-write from this state at a time. It does not
// wait: a held lock is an error matching ErrLocked. The kernel releases
// the lock when the process ends, however it ends; so a process holding
// it knows that the mount recorded by SetMount is no longer running and
// may reclaim its lease at once (lease.Options.Reclaim). Call unlock at
// unmount.
func Lock(dir string) (unlock func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localstate: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localstate: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked)", ErrLocked, path)
		}
		return nil, fmt.Errorf("localstate: lock %s: %w", path, err)
	}
	return f.Close, nil // closing the file releases the lock
}
