package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

type mountOptions struct {
	readOnly       bool
	cacheDir       string
	device         string
	allowOther     bool
	commitInterval time.Duration
	daemon         bool
	init           bool
	initOpts       initOptions
	force          bool          // take over a writer lease another device holds
	acceptRollback bool          // accept a store older than this device has seen
	singleDevice   bool          // accept a store without conditional writes
	snapshot       string        // mount this past snapshot read-only
	snapshotEvery  time.Duration // take named snapshots this often
	followInterval time.Duration // how often a read-only mount looks for new commits
	fsyncTimeout   time.Duration // how long fsync and unmount wait for an unreachable store
	memoryMiB      int           // MiB of written data held in memory before it is sealed
	compress       bool          // seal chunks that shrink as zstd frames (format 4)
}

func (a *app) mountCommand() *cobra.Command {
	var o mountOptions
	cmd := &cobra.Command{
		Use:   "mount STORE MOUNTPOINT",
		Short: "Mount the vault in STORE at MOUNTPOINT",
		Long: `mount serves the vault in STORE at the empty directory MOUNTPOINT. It runs in
the foreground until unmounted (Ctrl-C, SIGTERM, 'sealfs umount MOUNTPOINT' or
'fusermount3 -u MOUNTPOINT'), then commits everything and exits 0 only if
every change is in the store. With --daemon it returns once the mount is ready.

Changes are committed every --commit-interval, on fsync, and at unmount.`,
		Args: exactArgs(2, "STORE and MOUNTPOINT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runMount(cmd.Context(), args[0], args[1], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.readOnly, "read-only", false, "mount read-only")
	f.StringVar(&o.cacheDir, "cache-dir", "", "local directory for this vault's sealed cache and state (default $XDG_CACHE_HOME/sealfs/...)")
	f.StringVar(&o.device, "device", deviceName(), "name of this device, recorded with each commit")
	f.BoolVar(&o.allowOther, "allow-other", false, "let other users access the mount (needs user_allow_other in /etc/fuse.conf for non-root)")
	f.DurationVar(&o.commitInterval, "commit-interval", 5*time.Second, "how often changes are committed without fsync")
	f.BoolVar(&o.daemon, "daemon", false, "run in the background; return once the mount is ready")
	f.BoolVar(&o.init, "init", false, "create the vault first if STORE has none (prints the recovery key)")
	f.BoolVar(&o.force, "force", false, "take over the vault even if another device holds the writer lease (that device stops committing)")
	f.BoolVar(&o.acceptRollback, "accept-rollback", false, "accept a store whose last commit is older than one this device has seen (after restoring a backup of the bucket on purpose)")
	f.BoolVar(&o.singleDevice, "single-device", false, singleDeviceHelp)
	f.StringVar(&o.snapshot, "snapshot", "", "mount the past snapshot with this id read-only (see 'sealfs snapshots')")
	f.DurationVar(&o.fsyncTimeout, "fsync-timeout", vault.DefaultFsyncTimeout, "how long fsync (then EIO) and unmount (then the changes stay staged on this device) wait for an unreachable store")
	f.DurationVar(&o.followInterval, "follow-interval", vault.DefaultFollowInterval, "how often a --read-only mount looks for the writer's new commits (0 = never)")
	f.DurationVar(&o.snapshotEvery, "snapshot-every", 0, "also take a named snapshot this often while mounted, e.g. 24h (every unmount takes one anyway)")
	f.IntVar(&o.memoryMiB, "memory-budget", vault.DefaultMemoryBudget>>20, memoryBudgetHelp)
	f.BoolVar(&o.compress, "compress", false, compressHelp)
	o.initOpts.addFlags(cmd)
	return cmd
}

const compressHelp = "compress written chunks that shrink (zstd; skipped for data a quick probe finds dense, like photos, videos and " +
	"encrypted backups): fewer bytes to upload and store, but the bucket then sees compressed sizes, which can say something " +
	"about content an attacker partly controls (see docs/SECURITY.md); reading needs no flag"

const memoryBudgetHelp = "MiB of written data held in memory until it is sealed and sent; past it, partly written chunks " +
	"are parked, sealed, in the cache directory (at least 16; raise it for big files written out of order)"

// minMemoryMiB is the smallest --memory-budget: four chunks of the
// default size (a vault with bigger chunks raises it to four of its own).
const minMemoryMiB = 4 * (crypt.DefaultChunkSize >> 20)

func (a *app) runMount(ctx context.Context, location, mountpoint string, o mountOptions) (err error) {
	defer func() { daemonReady(err) }() // a daemon's parent waits for this
	if o.commitInterval < 100*time.Millisecond {
		return usageErr("--commit-interval %s is too short: use at least 100ms", o.commitInterval)
	}
	if o.fsyncTimeout < time.Second {
		return usageErr("--fsync-timeout %s is too short: use at least 1s", o.fsyncTimeout)
	}
	if o.snapshotEvery != 0 && o.snapshotEvery < time.Second {
		return usageErr("--snapshot-every %s is too short: use at least 1s", o.snapshotEvery)
	}
	if o.memoryMiB < minMemoryMiB || o.memoryMiB > 1<<20 {
		return usageErr("--memory-budget %d is out of range: give MiB between %d and %d", o.memoryMiB, minMemoryMiB, 1<<20)
	}
	if o.snapshot != "" {
		o.readOnly = true // a past snapshot is never written to
	}
	mnt, err := checkMountpoint(mountpoint)
	if err != nil {
		return err
	}
	if err := checkFUSE(); err != nil {
		return err
	}
	s, err := a.openStoreDir(ctx, location, o.init)
	if err != nil {
		return err
	}
	defer s.Close()

	u, err := a.unlockForMount(ctx, s, o)
	if err != nil {
		return err
	}
	if o.daemon && !isDaemonChild() {
		return a.startDaemon(u)
	}
	ctl, err := a.controlSocket(mnt)
	if err != nil {
		return err
	}
	defer ctl.close()
	// The mount outlives the signal context: Ctrl-C must end in a clean
	// unmount and a final commit, not in cancelled uploads.
	ctx = context.WithoutCancel(ctx)
	dev, err := vault.OpenDevice(ctx, s, u, vault.DeviceOptions{
		CacheDir:       o.cacheDir,
		Device:         o.device,
		ReadOnly:       o.readOnly,
		Force:          o.force,
		AcceptRollback: o.acceptRollback,
		SingleDevice:   o.singleDevice,
		Logger:         a.logger,
		OnLeaseLost: func(err error) {
			fmt.Fprintf(a.stderr, "sealfs: error: %v: another device took over this vault; this mount no longer commits (changes made from now on are not saved)\n", err)
		},
	})
	if err != nil {
		return vaultErr(s, err)
	}
	if dev.EmulatedConditions {
		a.warnSingleDevice(s)
	}
	loaded := paceLoad()
	m, err := fs.Mount(ctx, mnt, dev.Options(vault.Options{
		Keys:           u.Keys,
		CommitInterval: o.commitInterval,
		AllowOther:     o.allowOther,
		Logger:         a.logger,
		Snapshot:       o.snapshot,
		SnapshotEvery:  o.snapshotEvery,
		FollowInterval: followInterval(o.followInterval),
		FsyncTimeout:   o.fsyncTimeout,
		MemoryBudget:   int64(o.memoryMiB) << 20,
		Compress:       o.compress,
	}))
	loaded()
	if err != nil {
		_ = dev.Close(ctx, true) // nothing was written: let another device in at once
		if errors.Is(err, meta.ErrRollback) {
			return rollbackErr(s, err)
		}
		return fmt.Errorf("cannot mount %s at %s: %w", s, mnt, err)
	}
	stopLimit := setMemoryLimit(a.logger, int64(o.memoryMiB)<<20, m.Inodes)
	defer stopLimit()
	err = a.serve(s, mnt, m, ctl)
	cerr := dev.Close(ctx, err == nil)
	ctl.exited(cerr) // now 'sealfs umount' may return
	if err == nil {
		err = cerr
	}
	return err
}

// unlockForMount unlocks the vault, creating it first with --init.
func (a *app) unlockForMount(ctx context.Context, s remote.Store, o mountOptions) (*unlocked, error) {
	if isDaemonChild() {
		return a.unlockFromParent()
	}
	if o.init {
		if _, err := s.Stat(ctx, layout.Vault); errors.Is(err, remote.ErrNotFound) {
			o.initOpts.mounting = true
			return a.initVault(ctx, s, o.initOpts)
		}
	}
	u, err := a.unlock(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := vault.EnsureHead(ctx, s, u.Keys, o.readOnly, o.device); err != nil {
		return nil, vaultErr(s, err)
	}
	return u, nil
}

// controlSocket listens on the mount's control socket before anything is
// served. A socket directory another user may control refuses the mount;
// any other failure only costs 'sealfs umount' its wait, with a warning.
func (a *app) controlSocket(mnt string) (*controlServer, error) {
	ctl, err := listenControl(runtimeDir(), mnt)
	var untrusted *untrustedError
	if errors.As(err, &untrusted) {
		return nil, err
	}
	if err != nil {
		a.logger.Warn("sealfs umount will not be able to wait for this mount", "err", err)
		return nil, nil
	}
	ctl.waitForExit()
	return ctl, nil
}

// serve waits until the mount ends: a signal asks for an unmount (refused
// while busy), an external unmount ends it directly. It returns the result of
// the final commit.
func (a *app) serve(s remote.Store, mnt string, m *fs.Mounted, ctl *controlServer) error {
	if ctl != nil {
		ctl.start(m)
	}
	done := make(chan error, 1)
	go func() { done <- m.Wait() }()
	a.reportRecovery(mnt, m.Vault().Recovered())
	daemonReady(nil)
	if !isDaemonChild() {
		fmt.Fprintf(a.stderr, "sealfs: %s mounted at %s; press Ctrl-C or run 'sealfs umount %s' to unmount\n", s, mnt, mnt)
	}
	// Each SIGINT/SIGTERM asks for an unmount; a busy mount refuses and
	// keeps serving, so a later signal can try again.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	unmounting := make(chan struct{}, 1)
	var result error
	for waiting := true; waiting; {
		select {
		case result = <-done:
			waiting = false
		case <-sigs:
			select {
			case unmounting <- struct{}{}:
			default:
				continue // one attempt at a time
			}
			go func() {
				defer func() { <-unmounting }()
				bar := newProgress(a.stderr, "committing")
				stopBar := watchProgress(m, bar)
				defer stopBar()
				if err := m.Unmount(); err != nil && isBusy(err) {
					fmt.Fprintf(a.stderr, "sealfs: %s is busy: close the files open in it (see 'lsof %s'), then unmount again\n", mnt, mnt)
				}
			}()
		}
	}
	ctl.stopAccepting() // the reply to an unmount waits for exited
	if errors.Is(result, vault.ErrStaged) {
		return withCode(exitStaged, fmt.Errorf("the final commit failed: %w", result), "mount again on this device once the store is reachable to finish")
	}
	if result != nil {
		return fmt.Errorf("the final commit failed: %w", result)
	}
	return nil
}

// watchProgress updates bar from m until the returned stop is called.
func watchProgress(m mountHandle, bar *progress) (stop func()) {
	quit := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				bar.update(m.Progress())
			}
		}
	}()
	return func() { close(quit); bar.finish() }
}

// followInterval maps the flag (0 = never) to vault.Options (negative = never).
func followInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return max(d, 100*time.Millisecond)
}

// reportRecovery tells the user what this mount found staged from an
// earlier one on this device that did not commit everything, and names
// every file of it that is lost.
func (a *app) reportRecovery(mnt string, r *vault.Recovery) {
	if r == nil {
		return
	}
	when := r.Written.Local().Format("2006-01-02 15:04 MST")
	switch {
	case r.Folder != "":
		why := "because another device wrote to the vault since"
		switch {
		case r.Conflict:
		case len(r.Lost) > 0:
			why = "because some of the data of its changes is lost (below), so they could not be applied as they were"
		default:
			why = "because its changes could not be applied as they were"
		}
		a.notice(fmt.Sprintf("warning: %d files that an earlier mount on this device (%q, %s) could not commit were set aside in %s, %s: compare them with the current files and keep what you need",
			len(r.Files), r.Device, when, filepath.Join(mnt, r.Folder), why))
	case r.Replayed:
		a.notice(fmt.Sprintf("committed the changes an earlier mount on this device (%s) had left staged", when))
	}
	if len(r.Lost) > 0 {
		quoted := make([]string, len(r.Lost))
		for i, p := range r.Lost {
			quoted[i] = strconv.Quote(p)
		}
		a.notice(fmt.Sprintf("error: %d files that an earlier mount on this device (%q, %s) never committed are lost and were not recreated: their data was uploaded but is no longer in the store (prune deletes uncommitted data once the device's lease and the grace period are over) and no copy was kept on this device: %s",
			len(r.Lost), r.Device, when, strings.Join(quoted, ", ")))
	}
}
