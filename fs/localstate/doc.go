// Package localstate is a device's sealed memory of one vault, kept in a
// small file in the device's cache directory (one directory per vault,
// chosen by the caller):
//
//   - the high-water mark: the highest commit (number, time, device, mount)
//     this device has seen. A store that later presents an older head, or
//     a different commit under the same number, is refused with a
//     *RollbackError showing both commits; Accept takes it on purpose.
//   - the lease sighting: which version of a lease held by another device
//     this device saw first, and when (it implements lease.Observer), so a
//     refused mount retried after the holder's TTL can take a crashed
//     holder's lease over.
//
// The limit, by construction: a brand-new device, or one whose state file
// was removed, has no mark and cannot detect a rollback; it trusts the
// store as it finds it (the head still shows who wrote last and when).
// Someone who can write this device's disk can restore an older state file
// and so hide a rollback from it; the local disk is trusted with integrity
// of this file only as far as it is trusted not to do that.
//
// The file (FileName) is two slots, each a crypt record sealed with
// Keys.Local (KindLocal, seq 0) that holds no plaintext, mode 0600 in a
// 0700 directory. A save writes the slot that does not hold the newest
// state in place and fdatasyncs it (one flush; the file is created whole,
// through a temporary file, rename and fsync of the directory, only once);
// a reader takes the newest slot that authenticates, so a save torn by a
// power cut leaves the state before it. A file in which no slot
// authenticates, or with a slot that authenticates but is not a state this
// sealfs reads, is an error naming the file and the fix, never silently
// reset: a reset would quietly disable rollback detection. The first save
// in a directory of an older sealfs carries its file ("state") over. The
// format, and why a torn slot is skipped, is in docs/FORMAT.md ("Local
// state file").
//
// Several processes may use the same state at once (a read-write mount,
// read-only mounts, "sealfs info"): every save takes a short flock, reads
// what the others saved and merges it (the mark only rises; each process's
// own lease sighting and mount id win), so none undoes another's save.
// Lock is the separate, long-held lock of a read-write mount: it keeps a
// second read-write mount of the vault on this device out, and because the
// kernel drops it when a process dies, its holder knows the mount recorded
// by SetMount is gone and may reclaim that mount's lease at once.
//
// The intended mount sequence (read-write):
//
//	unlock, err := localstate.Lock(dir)      // ErrLocked: mounted here already
//	st, err := localstate.Open(dir, keys.Local)
//	l, err := lease.Acquire(ctx, store, keys, lease.Options{
//		Device: dev, MountID: id, Observer: st, Reclaim: st.LastMount(), Force: force})
//	err = st.SetMount(id)
//	head := ...                              // read the head
//	err = st.CheckRollback(head)             // *RollbackError; --accept-rollback: st.Accept(head)
//	err = st.Observe(head)
//	go l.Run(ctx, onLost)                    // onLost: stop committing, say so loudly
//	// each commit: l.Check() before the head compare-and-swap, st.Observe(newHead) after
//	// unmount: last commit, l.Release(ctx), unlock()
//
// A read-only mount skips Lock, the lease and SetMount, and still calls
// CheckRollback and Observe.
package localstate
