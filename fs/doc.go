// Package fs is the FUSE front door of sealfs: it mounts a vault (the
// engine in fs/vault) with go-fuse and serves the kernel's requests by
// calling the engine.
//
// It is thin on purpose. Node holds an inode number and calls the vault;
// handle wraps an open vault.File; toErrno is the one translation of
// engine errors into errno values; invalidate tells the kernel what
// changed when a following vault shows a newer commit. What the kernel
// adds (page cache, attribute and entry caches, permission checks with
// default_permissions, direct I/O on following mounts) is configured in
// mount.go.
//
// What it must not do: keep file state of its own, interpret bucket data,
// or decide anything about commits: every such rule lives in the engine,
// so that every front door behaves alike.
package fs
