package crypt

import (
	"errors"
	"fmt"
)

// ErrAuth is the one authentication error: wrong key, tampered or truncated
// data. It carries no detail on purpose; functions may wrap it with the name
// of what failed (match with errors.Is).
var ErrAuth = errors.New("crypt: message authentication failed")

// ErrVaultModified is returned (wrapped together with ErrAuth) when a key
// slot opened but the MAC over the whole vault.json does not match: someone
// edited a field (suite, chunk size, KDF parameters, a slot) after it was
// written. errors.Is(err, ErrAuth) also holds, so callers that only know
// ErrAuth still refuse the vault.
var ErrVaultModified = errors.New("crypt: vault.json was modified after it was written (MAC mismatch)")

// ErrNoSlot is returned when the vault has no key slot of the kind asked for.
var ErrNoSlot = errors.New("crypt: vault has no key slot of this type")

// ParseError reports input that is malformed before any cryptography runs:
// what was being parsed, which field, and what is wrong with it.
type ParseError struct {
	What  string // "vault.json", "object header", "record", "recovery key", ...
	Field string // the offending field ("slots[0].kdf.memory_mib"), may be empty
	Msg   string // what is wrong
	Err   error  // underlying error, may be nil
}

func (e *ParseError) Error() string {
	s := "crypt: " + e.What
	if e.Field != "" {
		s += ": " + e.Field
	}
	s += ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ParseError) Unwrap() error { return e.Err }

func parseErr(what, field, format string, args ...any) *ParseError {
	return &ParseError{What: what, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// KDFParamError reports an Argon2id parameter outside the accepted range:
// below the enforced minimum (too weak) or above the maximum (a hostile vault
// trying to exhaust memory or time).
type KDFParamError struct {
	Param string // "time", "memory_mib" or "threads"
	Value uint32
	Min   uint32
	Max   uint32
}

func (e *KDFParamError) Error() string {
	if e.Value < e.Min {
		return fmt.Sprintf("crypt: argon2id %s=%d is below the minimum %d", e.Param, e.Value, e.Min)
	}
	return fmt.Sprintf("crypt: argon2id %s=%d is above the maximum %d", e.Param, e.Value, e.Max)
}
