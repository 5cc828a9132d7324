// Package lease keeps sealfs to one writer at a time: a small sealed object
// "lease" in the store names the device and mount that may commit, and is
// taken, renewed and released with conditional writes (create-only and
// compare-and-swap on the ETag).
//
// A mount takes the lease with Acquire, keeps it with Run (a renewal every
// TTL/3), asks Check before each commit, and gives it back with Release at a
// clean unmount, after which the next device takes it at once. Another
// device asking while the lease is live gets a *HeldError naming the holder;
// it can still mount read-only.
//
// No clocks are compared between devices. A lease counts as stale (its
// holder crashed or lost the network) only when the contending device has
// seen the very same lease version, unchanged, for the holder's whole TTL
// by its own clock; an Observer (fs/localstate) remembers that first
// sighting across runs, so a refused mount retried after the TTL succeeds.
// The holder in turn considers its lease good only for 90% of the TTL after
// it sent its last confirmed write (Check), so an honest contender cannot
// take a lease over while its holder still commits. The times in the record
// come from the holder's clock and are only shown in messages.
//
// The lease is coordination between honest devices, not a security
// boundary: the hostile store can delete, replay or withhold it, which at
// worst refuses a mount or lets two devices believe they may write. What
// keeps the vault consistent then is the head compare-and-swap, which
// fences a writer that lost its lease (Renew reports ErrLost; the mount must
// stop committing and say so). A lease object that fails authentication is
// reported as a *CorruptError and never taken for a free lease; only
// Options.Force replaces it.
//
// This package must not print (it logs through Options.Logger), must not
// panic on store data, and holds no plaintext on disk. The byte format is in
// docs/FORMAT.md ("Lease").
package lease
