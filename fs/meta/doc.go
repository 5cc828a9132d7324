// Package meta holds the metadata of a sealfs vault: the in-memory tree of
// inodes (names, modes, times, sizes, symlink targets, xattrs and the chunk
// extents of files) and its persistence in a remote.Store as sealed full
// snapshots plus sealed, hash-chained journal batches, named by a "head"
// object that is replaced only by compare-and-swap.
//
// Every change to a Tree is expressed as state-setting ops (set an inode's
// attributes, add or remove a directory entry, set extents ...). The live
// tree applies exactly the ops it journals, and a snapshot is the op list
// that rebuilds the tree from nothing, so loading a vault replays the same
// code path that built it. docs/FORMAT.md ("Metadata payloads") documents
// every byte.
//
// The package must not: touch local disk, log names or contents, return
// metadata it could not authenticate (a failure is an error wrapping
// crypt.ErrAuth or remote.ErrNotFound, never a partial tree), or depend on
// go-fuse. Tree errors are bare syscall.Errno values for the FUSE layer.
package meta
