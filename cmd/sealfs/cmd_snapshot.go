package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

// snapshotJSON is one snapshot as 'sealfs snapshots --json' prints it:
// exactly these keys.
type snapshotJSON struct {
	ID     string `json:"id"`
	Time   string `json:"time"` // RFC 3339
	Device string `json:"device"`
	Files  uint64 `json:"files"`
	Bytes  uint64 `json:"bytes"`
}

func toJSON(s history.Snapshot) snapshotJSON {
	return snapshotJSON{ID: s.ID, Time: s.Time.UTC().Format(time.RFC3339), Device: s.Device, Files: s.Files, Bytes: s.Bytes}
}

func (a *app) snapshotCommand() *cobra.Command {
	var device, cacheDir string
	var singleDevice bool
	cmd := &cobra.Command{
		Use:   "snapshot STORE",
		Short: "Take a named snapshot of the vault now",
		Long: `snapshot commits everything and names the result as a snapshot that
'sealfs snapshots' lists and 'sealfs mount --snapshot ID' mounts. When a sealfs
process on this machine has STORE mounted read-write, it asks that mount;
otherwise it takes the writer lease for a moment (exit 11 while another device
holds it).`,
		Args: exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			snap, err := requestSnapshot(ctx, s.String())
			if errors.Is(err, errNoServer) {
				snap, err = a.snapshotDirect(ctx, s, device, cacheDir, singleDevice)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "snapshot %s taken at %s: %d files, %s\n", snap.ID, snap.Time, snap.Files, humanBytes(int64(snap.Bytes)))
			return nil
		},
	}
	cmd.Flags().StringVar(&device, "device", deviceName(), "name of this device, recorded with the snapshot when no mount takes it")
	cacheDirFlag(cmd, &cacheDir)
	cmd.Flags().BoolVar(&singleDevice, "single-device", false, singleDeviceHelp)
	return cmd
}

// snapshotDirect takes a snapshot with no mount running
// (vault.TakeSnapshot).
func (a *app) snapshotDirect(ctx context.Context, s remote.Store, device, cacheDir string, singleDevice bool) (snapshotJSON, error) {
	u, err := a.unlock(ctx, s)
	if err != nil {
		return snapshotJSON{}, err
	}
	st, err := deviceState(s, u, cacheDir)
	if err != nil {
		return snapshotJSON{}, err
	}
	ws, err := a.provenStore(ctx, s, singleDevice)
	if err != nil {
		return snapshotJSON{}, err
	}
	snap, err := vault.TakeSnapshot(ctx, ws, u, st, device, a.logger)
	return toJSON(snap), leaseErr(s, "taking a snapshot", err)
}

// withWriterLease runs fn holding the vault's writer lease
// (vault.WithWriterLease), so that no mount commits meanwhile. Another
// device's live lease is exit 11.
func (a *app) withWriterLease(ctx context.Context, s remote.Store, u *unlocked, device, what string, singleDevice bool, fn func(remote.Store, *lease.Lease) error) error {
	ws, err := a.provenStore(ctx, s, singleDevice)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return leaseErr(s, what, vault.WithWriterLease(ctx, ws, u, device, a.logger, func(l *lease.Lease) error { return fn(ws, l) }))
}

// leaseErr maps the errors of work under the writer lease.
func leaseErr(s remote.Store, what string, err error) error {
	var held *lease.HeldError
	if errors.As(err, &held) {
		return withCode(exitLeaseHeld, fmt.Errorf("%s: %w", what, err), "unmount the vault there first (or, for a snapshot, run this on the machine that has it mounted)")
	}
	if err != nil {
		return vaultErr(s, fmt.Errorf("%s: %w", what, err))
	}
	return nil
}

// requestSnapshot asks the sealfs process on this machine that serves
// store read-write to take a snapshot; errNoServer if none does.
func requestSnapshot(ctx context.Context, store string) (snapshotJSON, error) {
	dir := runtimeDir()
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	for _, path := range socks {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := dialControl(dctx, dir, path)
		cancel()
		if errors.Is(err, errNoServer) {
			continue // a stale socket of a crashed mount
		}
		if err != nil {
			return snapshotJSON{}, err
		}
		snap, mine, err := askSnapshot(conn, store)
		conn.Close()
		if mine {
			return snap, err
		}
	}
	return snapshotJSON{}, errNoServer
}

// askSnapshot sends one snapshot request; mine reports whether the mount
// serves store (and so answered for it).
func askSnapshot(conn net.Conn, store string) (snap snapshotJSON, mine bool, err error) {
	if err := json.NewEncoder(conn).Encode(controlRequest{Op: "snapshot", Store: store}); err != nil {
		return snap, false, nil
	}
	var r controlReply
	// Only a reply naming the store counts: older sealfs processes answer
	// "unknown request" to everything.
	if err := json.NewDecoder(conn).Decode(&r); err != nil || r.OtherStore || r.Store != store {
		return snap, false, nil
	}
	if r.Error != "" {
		return snap, true, fmt.Errorf("the mount of %s could not take a snapshot: %s", store, r.Error)
	}
	if r.Snapshot == nil {
		return snap, true, errors.New("the mount answered without a snapshot")
	}
	return *r.Snapshot, true, nil
}

// mountSnapshotter is what the control server needs for a snapshot
// request (fs.Mounted has it).
type mountSnapshotter interface {
	Snapshot(ctx context.Context) (history.Snapshot, error)
	StoreName() string
	Writable() bool
}

// handleSnapshot serves a snapshot request on the control socket.
func (c *controlServer) handleSnapshot(conn net.Conn, req controlRequest) {
	enc := json.NewEncoder(conn)
	sn, ok := c.m.(mountSnapshotter)
	if !ok || sn.StoreName() != req.Store || !sn.Writable() {
		_ = enc.Encode(controlReply{Final: true, OtherStore: true})
		return
	}
	snap, err := sn.Snapshot(context.Background())
	reply := controlReply{Final: true, Store: req.Store}
	if err != nil {
		reply.Error = err.Error()
	} else {
		j := toJSON(snap)
		reply.Snapshot = &j
	}
	_ = enc.Encode(reply)
}

func (a *app) snapshotsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "snapshots STORE",
		Short: "List the vault's snapshots, oldest first",
		Args:  exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, _, c, err := a.openCatalog(ctx, args[0], "", false)
			if err != nil {
				return err
			}
			defer s.Close()
			snaps, err := c.List(ctx)
			if err != nil {
				return withCode(exitDamage, fmt.Errorf("reading the snapshot list: %w", err), "run 'sealfs check' for details")
			}
			if asJSON {
				out := make([]snapshotJSON, 0, len(snaps))
				for _, s := range snaps {
					out = append(out, toJSON(s))
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tTIME\tDEVICE\tFILES\tBYTES")
			for _, s := range snaps {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", s.ID, s.Time.Local().Format("2006-01-02 15:04:05"), s.Device, s.Files, humanBytes(int64(s.Bytes)))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of {id, time, device, files, bytes}")
	return cmd
}

func (a *app) forgetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "forget STORE ID...",
		Short: "Delete snapshots by id (their data goes at the next prune)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErr("forget needs STORE and at least one snapshot ID (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, _, c, err := a.openCatalog(ctx, args[0], "", false)
			if err != nil {
				return err
			}
			defer s.Close()
			gone, err := c.Forget(ctx, args[1:]...)
			if errors.Is(err, history.ErrNoSnapshot) {
				return withCode(exitError, err, "nothing was forgotten; see 'sealfs snapshots' for the ids")
			}
			if err != nil {
				return err
			}
			for _, s := range gone {
				fmt.Fprintf(a.stdout, "forgot snapshot %s of %s\n", s.ID, s.Time.Local().Format("2006-01-02 15:04:05"))
			}
			if n := len(args) - 1 - len(gone); n > 0 {
				fmt.Fprintf(a.stdout, "removed %d damaged catalog entries\n", n)
			}
			fmt.Fprintf(a.stdout, "run 'sealfs prune %s' to delete the data only they used\n", args[0])
			return nil
		},
	}
}

// openCatalog opens STORE, unlocks it and returns its snapshot catalog.
// With checked, every load of the head through the catalog (check,
// prune) is checked against this device's rollback mark in cacheDir ("":
// the default) and raises it. The caller closes the store.
func (a *app) openCatalog(ctx context.Context, location, cacheDir string, checked bool) (remote.Store, *unlocked, *history.Catalog, error) {
	s, u, err := a.openUnlocked(ctx, location)
	if err != nil {
		return nil, nil, nil, err
	}
	opts := history.Options{Logger: a.logger}
	if checked {
		st, err := deviceState(s, u, cacheDir)
		if err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		opts.CheckHead = headGuard(st, false)
	}
	return s, u, history.New(s, u.Keys, opts), nil
}

// cacheDirFlag adds --cache-dir to a command that reads or keeps this
// device's state of the vault.
func cacheDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "cache-dir", "", "local directory of this vault's sealed cache and state, as given to mount (default $XDG_CACHE_HOME/sealfs/...): it holds the newest commit this device has seen, to detect a rolled-back store")
}
