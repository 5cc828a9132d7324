package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

// toErrno is the one translation of engine errors at the FUSE boundary.
// It matches wrapped errors (go-fuse's ToErrno compares with ==).
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, crypt.ErrAuth), errors.Is(err, remote.ErrNotFound),
		errors.Is(err, vault.ErrCorrupt):
		return syscall.EIO
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	default:
		// Deadlines, network and store failures: the operation did not
		// happen, and the caller must not think it did.
		return syscall.EIO
	}
}
