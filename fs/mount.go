package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/vault"
)

// Kernel cache timeouts.
//
// A read-write mount is the vault's only writer (the lease fences any
// other), and every change to its tree arrives through this mount's
// kernel, which updates or drops what it caches with each request it
// sends: a setattr's reply, the parent's attributes after a create or an
// unlink, the link count and ctime after unlink, link and rename over a
// name, ctime after setxattr, size and mtime after a write. Nothing
// changes the tree behind the kernel's back, so it keeps entries and
// attributes for stableTimeout: a second ls -l of a folder of 100,000
// files, or du of a million, then costs no round trip per entry
// (docs/PERFORMANCE.md, "A million entries"). The same holds for a
// read-only mount that does not follow (a past snapshot, or
// --follow-interval 0). A following mount swaps in the writer's newer
// trees: it keeps the short timeouts and invalidates what changed
// (invalidate.go). Negative entries stay short everywhere: a name that
// appears is cheap to look up again.
const (
	stableTimeout   = time.Hour
	entryTimeout    = time.Second
	attrTimeout     = time.Second
	negativeTimeout = 500 * time.Millisecond
)

// ErrBusy is returned by Unmount while files on the mount are in use (the
// error matches syscall.EBUSY too).
var ErrBusy = errors.New("mount is busy")

// Mounted is a mounted vault, served in background goroutines. (The type
// cannot be called Mount: that is the function that makes one.)
type Mounted struct {
	dir    string
	v      *vault.Vault
	server *fuse.Server
	fs     *rawFS

	waitOnce sync.Once
	waitErr  error
}

// Mount opens the vault (vault.Open) and mounts it at mountpoint, which
// must be an existing empty directory, and serves it in the background.
func Mount(ctx context.Context, mountpoint string, opts vault.Options) (*Mounted, error) {
	if err := checkMountpoint(mountpoint); err != nil {
		return nil, err
	}
	v, err := vault.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	return MountVault(ctx, mountpoint, v)
}

// MountVault serves the opened vault v at mountpoint; on failure it closes
// v.
func MountVault(ctx context.Context, mountpoint string, v *vault.Vault) (*Mounted, error) {
	rfs := newRawFS(v)
	opts := mountOptions(v)
	server, err := fuse.NewServer(rfs, mountpoint, &opts)
	if err != nil {
		_ = v.Close(ctx)
		return nil, fmt.Errorf("fs: mount %s: %w", mountpoint, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		_ = server.Unmount()
		_ = v.Close(ctx)
		return nil, fmt.Errorf("fs: mount %s: %w", mountpoint, err)
	}
	raiseReadAhead(mountpoint)
	// Following may tell the kernel about changes now.
	v.SetFollowHook(rfs.invalidate)
	return &Mounted{dir: mountpoint, v: v, server: server, fs: rfs}, nil
}

// kernelReadAheadKiB is the read-ahead window the kernel keeps in front of
// a sequential reader of a file opened without direct I/O (the page cache
// path of a read-write mount), in KiB: one largest FUSE read (MaxWrite).
//
// The kernel gives a FUSE mount the default 128 KiB window and the
// FUSE_INIT reply can only lower it, so an application reading in
// st_blksize (128 KiB) steps, as cp, sha256sum and tar do, reached sealfs
// as one 128 KiB request per read: eight times the requests of the
// read-only mount, whose direct I/O passes 1 MiB reads through
// (docs/PERFORMANCE.md, "Cold read through the read-write mount"). One
// 1 MiB window is enough: sealfs's own read-ahead fetches whole chunks
// behind it, and a larger window makes each page fault of a random
// reader of an mmap read 1 MiB around it for longer.
const kernelReadAheadKiB = vault.MaxWrite >> 10

func checkMountpoint(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("fs: mountpoint: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("fs: mountpoint %s is not a directory", dir)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fs: mountpoint: %w", err)
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("fs: mountpoint %s is not empty (it holds %q)", dir, names[0])
	}
	return nil
}

// kernelTimeouts are how long the kernel keeps entries, attributes and
// negative entries of a mount of v (see stableTimeout).
func kernelTimeouts(v *vault.Vault) (entry, attr, negative time.Duration) {
	et, at, nt := entryTimeout, attrTimeout, negativeTimeout
	switch c := v.KernelCacheTimeout(); {
	case !v.Following():
		et, at = stableTimeout, stableTimeout
	case c > 0:
		et, at, nt = c, c, c
	}
	return et, at, nt
}

func mountOptions(v *vault.Vault) fuse.MountOptions {
	allowOther, debug := v.MountOptions()
	o := fuse.MountOptions{
		FsName:   "sealfs",
		Name:     "sealfs",
		MaxWrite: vault.MaxWrite,
		// Let the kernel read ahead in large requests; sealfs adds its own
		// read-ahead of whole chunks behind them.
		MaxReadAhead: vault.MaxWrite,
		DirectMount:  true,
		AllowOther:   allowOther,
		Debug:        debug,
		// The kernel checks permissions against the mode bits we report,
		// as on a local file system (matters with AllowOther).
		Options: []string{"default_permissions"},
		// sealfs answers reads from memory (fuse.ReadResultData): splicing
		// bytes already in memory gains nothing, costs a pipe per reply,
		// and a 1 MiB reply does not fit go-fuse's pipe (it logs and falls
		// back to writev on every such read).
		DisableSplice: true,
		Logger:        log.New(io.Discard, "", 0),
	}
	// Device nodes and set-user-ID bits in a backup never act on this
	// machine (what the kernel imposes on mounts by other users than root
	// anyway).
	mountFlags(&o, v.ReadOnly())
	// The kernel lists a folder with READDIRPLUS (each entry with its
	// attributes, which go-fuse looks up) at its start and then only
	// while the lister stats what it lists (ls -l, du); find -type f and
	// a second du, whose entries the kernel still knows, get plain
	// READDIR: no lookup per entry (docs/PERFORMANCE.md, "A million
	// entries"; TestReaddirPlusAuto).
	o.ExtraCapabilities |= fuse.CAP_READDIRPLUS_AUTO
	if v.Following() {
		// Files are opened with direct I/O (see openFlags); this keeps
		// shared mmap working on kernels that support it (6.6+).
		o.ExtraCapabilities |= fuse.CAP_DIRECT_IO_ALLOW_MMAP
	}
	return o
}

// Vault returns the engine behind the mount.
func (m *Mounted) Vault() *vault.Vault { return m.v }

// Wait returns after the kernel unmounted and the final commit and
// snapshot are in the store; its error says if that failed.
func (m *Mounted) Wait() error {
	m.server.Wait()
	m.waitOnce.Do(func() {
		m.waitErr = m.v.Close(context.Background())
	})
	return m.waitErr
}

// Unmount asks the kernel to unmount (ErrBusy while files are in use),
// then waits as Wait does.
func (m *Mounted) Unmount() error {
	var err error
	for try := range 5 {
		if err = syscall.Unmount(m.dir, 0); err == nil || err == syscall.EINVAL {
			break // EINVAL: already unmounted
		}
		// Closing descriptors reach us a moment after close(2) returns.
		time.Sleep(time.Duration(try+1) * 20 * time.Millisecond)
	}
	switch {
	case err == syscall.EBUSY:
		return fmt.Errorf("fs: unmount %s: %w (%w)", m.dir, ErrBusy, syscall.EBUSY)
	case err != nil && err != syscall.EINVAL:
		return fmt.Errorf("fs: unmount %s: %w", m.dir, err)
	}
	return m.Wait()
}

// Inodes is the number of files and folders in the mounted tree: the
// metadata the mount keeps in memory grows with it (cmd/sealfs sizes the
// process's soft memory limit by it).
func (m *Mounted) Inodes() uint64 {
	files, dirs, _ := m.v.Usage()
	return files + dirs
}

// Sync flushes every file's data and commits now.
func (m *Mounted) Sync(ctx context.Context) error { return m.v.Sync(ctx) }

// Progress reports bytes uploaded and to upload since unmount began.
func (m *Mounted) Progress() (done, total int64) { return m.v.Progress() }

// Snapshot takes a named snapshot of the mounted vault now
// (vault.Vault.Snapshot).
func (m *Mounted) Snapshot(ctx context.Context) (history.Snapshot, error) { return m.v.Snapshot(ctx) }

// StoreName names the store the mount serves.
func (m *Mounted) StoreName() string { return m.v.StoreName() }

// Writable reports whether the mount can commit: read-write and not
// fenced by another writer.
func (m *Mounted) Writable() bool { return m.v.Writable() }
