// Package fs is the FUSE front door of sealfs: it mounts a vault (the
// engine in fs/vault) with go-fuse's raw protocol API and serves the
// kernel's requests by calling the engine.
//
// It is thin on purpose. The kernel's node id is the vault's inode
// number, so nothing is kept per inode the kernel knows (rawfs.go);
// handle wraps an open vault.File, dirStream is a cursor over a folder;
// toErrno is the one translation of
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
