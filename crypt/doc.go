// Package crypt is the pure cryptographic core of sealfs: the vault that
// wraps the master key in key slots, the per-purpose subkeys, the sealed
// chunk objects that hold file contents, and the sealed metadata records.
//
// Everything here is byte slices in and byte slices out. The package must not
// import os, the network or FUSE, must not log, and takes its randomness from
// a caller-supplied io.Reader (nil means crypto/rand) so that tests and
// known-answer vectors are deterministic.
//
// Any failure to authenticate (wrong key, a flipped bit, a swapped, moved,
// truncated or extended segment or object, a replayed record) is reported as
// ErrAuth, possibly wrapped with the object's id for context: match it with
// errors.Is. On ErrAuth no plaintext is ever returned. Malformed input that
// can be recognised before any cryptography (a vault.json that does not
// parse, an unknown version or suite) is a *ParseError naming the field.
//
// The byte formats are specified in docs/FORMAT.md and the security
// properties, each with the test that proves it, in docs/SECURITY.md.
package crypt
