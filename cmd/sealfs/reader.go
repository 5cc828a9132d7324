package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

// readOptions are the flags of the commands that read a vault without
// mounting it (ls, cat, restore).
type readOptions struct {
	snapshot       string
	cacheDir       string
	acceptRollback bool
}

func (o *readOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.snapshot, "snapshot", "", "read the past snapshot with this id (see 'sealfs snapshots') instead of the latest commit")
	f.BoolVar(&o.acceptRollback, "accept-rollback", false, "accept a store whose last commit is older than one this device has seen (after restoring a backup of the bucket on purpose)")
	cacheDirFlag(cmd, &o.cacheDir)
}

// reader is a vault opened read-only with no FUSE: the engine and what
// closes it.
type reader struct {
	store remote.Store
	v     *vault.Vault
	dev   *vault.Device
}

// openReader opens the vault in location read-only, the way a read-only
// mount does (cmd_mount.go) but without FUSE: unlock, the lost-head check,
// this device's state with the rollback check of the head it loads (which
// raises the device's mark), no writer lease, no following, nothing
// written to the store. Only ciphertext (the device's sealed state) is
// written locally. The caller closes it.
func (a *app) openReader(ctx context.Context, location string, o readOptions) (*reader, error) {
	s, err := a.openStore(ctx, location)
	if err != nil {
		return nil, err
	}
	r := &reader{store: s}
	if err := r.open(ctx, a, o); err != nil {
		r.close(ctx)
		return nil, err
	}
	return r, nil
}

func (r *reader) open(ctx context.Context, a *app, o readOptions) error {
	s := r.store
	u, err := a.unlock(ctx, s)
	if err != nil {
		return err
	}
	if err := vault.EnsureHead(ctx, s, u.Keys, true, ""); err != nil {
		return vaultErr(s, err)
	}
	r.dev, err = vault.OpenDevice(ctx, s, u, vault.DeviceOptions{
		CacheDir:       o.cacheDir,
		Device:         deviceName(),
		ReadOnly:       true,
		AcceptRollback: o.acceptRollback,
		Logger:         a.logger,
	})
	if err != nil {
		return vaultErr(s, err)
	}
	r.v, err = vault.Open(ctx, r.dev.Options(vault.Options{
		Keys:           u.Keys,
		ReadOnly:       true,
		Snapshot:       o.snapshot,
		FollowInterval: -1, // show the commit opened, nothing newer
		Logger:         a.logger,
	}))
	if err != nil {
		if errors.Is(err, meta.ErrRollback) {
			return rollbackErr(s, err)
		}
		if errors.Is(err, history.ErrNoSnapshot) {
			return withCode(exitError, fmt.Errorf("%s has no snapshot %q", s, o.snapshot), "'sealfs snapshots' lists them")
		}
		return fmt.Errorf("cannot read %s: %w", s, err)
	}
	return nil
}

func (r *reader) close(ctx context.Context) {
	if r.v != nil {
		_ = r.v.Close(ctx) // read-only: commits nothing
	}
	if r.dev != nil {
		_ = r.dev.Close(ctx, true)
	}
	r.store.Close()
}

// resolve finds p (a path inside the vault, "/" separated; "" or "/" is
// the root) without following symbolic links, and returns its inode and
// its clean path ("" for the root).
func (r *reader) resolve(p string) (meta.Inode, string, error) {
	clean := strings.TrimPrefix(path.Clean("/"+p), "/")
	in, err := r.v.Getattr(meta.RootIno)
	if err != nil {
		return meta.Inode{}, "", err
	}
	if clean == "" {
		return in, "", nil
	}
	for i, name := range strings.Split(clean, "/") {
		if !in.IsDir() {
			return meta.Inode{}, "", withCode(exitError, fmt.Errorf("%q is not in the vault: %q is not a folder", p, strings.Join(strings.Split(clean, "/")[:i], "/")), "")
		}
		if in, err = r.v.Lookup(in.Ino, name); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return meta.Inode{}, "", withCode(exitError, fmt.Errorf("%q is not in the vault", p), "see 'sealfs ls' for what is there")
			}
			return meta.Inode{}, "", fmt.Errorf("looking up %q: %w", p, err)
		}
	}
	return in, clean, nil
}

// isDamage reports whether a read failed because the stored data is
// damaged or was tampered with (it does not authenticate, or is missing),
// rather than because the store could not be reached.
func isDamage(err error) bool {
	return errors.Is(err, crypt.ErrAuth) || errors.Is(err, vault.ErrCorrupt) || errors.Is(err, remote.ErrNotFound)
}

// fileType names the type of mode as ls --json and restore print it.
func fileType(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "file"
	case syscall.S_IFDIR:
		return "dir"
	case syscall.S_IFLNK:
		return "symlink"
	case syscall.S_IFIFO:
		return "fifo"
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR:
		return "char-device"
	case syscall.S_IFBLK:
		return "block-device"
	}
	return "other"
}
