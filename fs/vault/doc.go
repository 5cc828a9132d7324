// Package vault is the sealfs engine: a vault as a library. It turns file
// operations (create, write, read, rename, fsync ...) into sealed,
// immutable chunk objects and metadata commits, and serves the tree back
// from them. It speaks in inode numbers and plain Go types and never
// imports go-fuse: the FUSE layer (package fs) is one front door on it;
// restore and listing in cmd/sealfs are others.
//
// A Vault owns the metadata tree (fs/meta), the per-file write state, the
// memory budget, the upload pool, the read cache and the commit loop. Open
// opens one from a store and keys; Close publishes and commits everything.
//
// Data path. Writes go into per-chunk plaintext buffers held in memory under
// a global budget; a full chunk is sealed (crypt.SealObject, fresh random
// ObjectID) and uploaded in the background while the application keeps
// writing. A changed chunk always becomes a new object (copy-on-write). A
// file's new data becomes visible in the tree only atomically, through one
// meta.Tree.SetFileData call, when the file is flushed, closed, fsynced or
// the mount ends, and only after every chunk of that version is durable
// (in the store, or staged on local disk: see Staging). Truncation is an unpublished change like a write, so an in-place
// rewrite (O_TRUNC, new content, close) replaces the old content in one
// publish. The commit loop commits the published tree every CommitInterval;
// before each commit it publishes the files that were closed or renamed
// with unpublished data, so a temporary file renamed over an old backup is
// never committed without its content. fsync publishes the file and
// commits before it returns.
//
// Staging (staging.go, recover.go, fs/stage). With a CacheDir, a read-write
// FS uploads each sealed object from memory while the store answers, and
// writes it to the staging area on local disk (fsynced before the intent
// log that names it) when that upload fails, when uploads are failing, or
// when the upload is still running after a second; a staged object's
// memory is given back at once and upload workers put it into the store,
// retrying without end while the store is down. A publish then needs only
// the local copy, while a commit waits until every object its ops name is
// in the store. Before each commit attempt the
// pending ops are recorded in a sealed intent log, so that the next mount
// on the device commits what a crash, an outage at unmount or a fence left
// behind (or sets it aside in /.sealfs-recovered when another writer
// committed since). Without a CacheDir, publish waits for the uploads.
//
// Small versions (at most a sixteenth of a chunk: small files, short last
// chunks) closed within 50 ms of each other are sealed together into one
// shared object, each published as an extent with its own offset (pack.go);
// an fsync or commit sends a pack at once. The plaintext of the last few
// uploaded versions that rewrote published content stays in memory, under
// the write budget, for the next partial write of the chunk (clean.go).
//
// Reads fetch only the 64 KiB segments they need by range, verify them, and
// keep them in a bounded in-memory cache; sequential reads are detected and
// read ahead by up to four chunks in parallel range requests.
//
// Following. A read-only FS follows the writer's commits (follow.go): every
// Options.FollowInterval it Stats the head and compares its ETag; when the
// head moved forward it loads the new tree (meta.Follower: only the new
// journal batches when the head extends the chain it loaded, verified like a
// full load, else the whole chain), swaps it in with meta.Tree.Replace
// (atomic for every Tree call and for opens), and tells the kernel to drop
// the entries, attributes and pages of what changed, walking only the inodes
// the kernel knows. Open handles keep the version they opened (files are
// opened with direct I/O on such a mount, since the kernel's page cache is
// per inode, not per version); an open file the writer deleted or replaced
// stays readable, unlinked, until closed. A head older than the one shown,
// or one that fails to authenticate, is logged and never applied.
//
// Glossary. Words that meant several things before the engine split, and
// what each means in this package and its neighbours:
//
//   - snapshot: a named, point-in-time copy of the tree that the user
//     lists, mounts and prunes (fs/history, `sealfs snapshot`). Nothing
//     else is called a snapshot in new code.
//   - checkpoint: the metadata object holding the whole tree that a chain
//     of journal batches builds on (fs/meta; record kind 3, ".snap" keys,
//     and "snapshot" in the older identifiers of fs/meta: Log.Snapshot,
//     SnapshotRef, compressSnapshotLocked, headRecord.snapshot). A named
//     snapshot refers to a checkpoint.
//   - journal batch: the ops of one commit, inline in the head or an
//     object (format 2).
//   - commit: one head swap (meta.Log.Commit): the only point where the
//     store's state changes for readers.
//   - publish: making one file's written data part of the in-memory tree
//     (Vault.publish, atomically, once its chunks are durable); the tree
//     reaches the store at the next commit. pubSnap is the frozen content
//     a publish applies (not a snapshot in the sense above).
//   - pack: one object holding several small files' versions (pack.go).
//   - staging: sealed objects and the intent log on local disk (fs/stage),
//     for outages and crashes.
//
// What it must not do: write plaintext to local disk (the cache directory,
// when used, holds ciphertext only); return bytes that failed
// authentication (those reads fail with EIO); delete objects (garbage
// collection is done elsewhere, after the commit that stops referencing
// them); panic on bucket data.
package vault
