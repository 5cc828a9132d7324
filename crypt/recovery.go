package crypt

import (
	"encoding/hex"
	"strings"
)

// RecoveryKey is the 256-bit recovery secret. String redacts; Display gives
// the 64 hex digits in 16 groups of 4 for showing the user once.
type RecoveryKey [32]byte

func (RecoveryKey) String() string { return "crypt.RecoveryKey(REDACTED)" }

// GoString redacts too, so %#v does not print the bytes.
func (RecoveryKey) GoString() string { return "crypt.RecoveryKey(REDACTED)" }

// Display returns the key as 64 lowercase hex digits in 16 groups of 4
// separated by dashes ("1f2e-...-9a0b", 79 characters). Show it to the user
// once; never log it.
func (r RecoveryKey) Display() string {
	h := hex.EncodeToString(r[:])
	var b strings.Builder
	b.Grow(len(h) + len(h)/4 - 1)
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(h[i : i+4])
	}
	return b.String()
}

// ParseRecoveryKey parses what Display printed, as a person may type it
// back: spaces, tabs, newlines and dashes anywhere are ignored, and hex
// digits may be either case. Anything else, or a count of digits other than
// 64, is a *ParseError saying what is wrong (never echoing the digits).
func ParseRecoveryKey(s string) (RecoveryKey, error) {
	digits := make([]byte, 0, 64)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t' || c == '\n' || c == '\r':
			continue
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			digits = append(digits, c)
		default:
			return RecoveryKey{}, parseErr("recovery key", "", "character %d is not a hex digit, space or dash", i+1)
		}
	}
	if len(digits) != 64 {
		return RecoveryKey{}, parseErr("recovery key", "", "%d hex digits, want 64", len(digits))
	}
	var r RecoveryKey
	if _, err := hex.Decode(r[:], digits); err != nil {
		return RecoveryKey{}, parseErr("recovery key", "", "not hex")
	}
	clear(digits)
	return r, nil
}
