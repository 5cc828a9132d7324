package vault

import (
	"errors"
	"syscall"
)

// errReadOnly is returned by every change on a read-only vault.
var errReadOnly = syscall.EROFS

// ErrCorrupt marks bucket data that parsed wrongly although it
// authenticated, or violated an invariant of the format: a front door
// reports it like a failed authentication (EIO).
var ErrCorrupt = errors.New("vault: corrupt data")
