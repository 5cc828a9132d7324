// Package history keeps the named points in time of a sealfs vault and
// decides what the bucket may forget.
//
// A snapshot is a full metadata snapshot that fs/meta already wrote (a
// sealed ".snap" object) plus a small sealed catalog record under
// "snapshots/<seq>-<id>" that names it: a short id a person can type, the
// time and device of the commit, the number of files and their bytes, and
// the ref (seq, key, SHA-256) of the meta snapshot. The record is sealed
// with the metadata key as record kind 5 (crypt.KindSnapIndex) at the
// snapshot's seq, so it cannot be replayed as a head, a batch or a snapshot,
// nor moved to another seq. docs/FORMAT.md ("Snapshot catalog") has every
// byte.
//
// Catalog records a vault's mounts every clean unmount, on a schedule and
// on request; List, Forget and Open serve the CLI; Policy is restic's
// --keep-last / --keep-within / --keep-daily; Prune forgets by policy and
// then deletes every data and metadata object that neither the current
// head nor a kept snapshot references, once it is older than a grace
// period; Check verifies the metadata chain, every snapshot and every
// referenced object and names each damaged file by path and snapshot.
//
// The package must not: delete anything it could not prove unreferenced
// (any snapshot that fails to load stops a prune before it deletes), delete
// objects younger than the grace period, return a snapshot whose record did
// not authenticate, log names or contents, or touch local disk.
package history
