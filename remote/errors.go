package remote

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// ErrTransient marks an error that may go away if the same request is sent
// again: a 5xx or 429 response, a timeout, a reset or refused connection, a
// body cut short. Stores wrap it into such errors; the Retry wrapper retries
// exactly the errors for which IsTransient reports true.
var ErrTransient = errors.New("remote: transient error")

// IsTransient reports whether err is worth retrying. Cancellation and
// deadline errors of the caller's context are never transient.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrTransient) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// transientError wraps err so that it matches both itself and ErrTransient.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() []error {
	return []error{e.err, ErrTransient}
}

// markTransient returns err marked as transient (nil stays nil).
func markTransient(err error) error {
	if err == nil || errors.Is(err, ErrTransient) {
		return err
	}
	return transientError{err}
}

// Secret is a credential string. Its String and GoString methods redact it
// so that it never reaches a log or an error message by accident.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// Reveal returns the secret itself, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }
