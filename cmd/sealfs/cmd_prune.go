package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/remote"
)

type pruneOptions struct {
	policy       history.Policy
	grace        time.Duration
	dryRun       bool
	singleDevice bool
	cacheDir     string
}

func (a *app) pruneCommand() *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune STORE",
		Short: "Forget old snapshots by policy and delete the data nothing kept uses",
		Long: `prune forgets the snapshots the policy does not keep (restic's rules: a
snapshot is kept if any rule keeps it; the newest snapshot and the current
files are always kept; no rule keeps every snapshot), then deletes every data
and metadata object that neither the current files nor a kept snapshot use,
once it is older than --grace.

It holds the writer lease while it works (exit 11 while a mount on another
device holds it: unmount there first). It is safe to interrupt and run again.`,
		Args: exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPrune(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.policy.KeepLast, "keep-last", 0, "keep the N newest snapshots")
	f.DurationVar(&o.policy.KeepWithin, "keep-within", 0, "keep every snapshot taken within DURATION before the newest one (e.g. 720h)")
	f.IntVar(&o.policy.KeepDaily, "keep-daily", 0, "keep the newest snapshot of each of the N most recent days that have one")
	f.DurationVar(&o.grace, "grace", history.DefaultGrace, "never delete unreferenced objects younger than this (a running writer's fresh uploads); 0 only when nothing writes")
	f.BoolVar(&o.dryRun, "dry-run", false, "show what would be forgotten and deleted, change nothing")
	cacheDirFlag(cmd, &o.cacheDir)
	f.BoolVar(&o.singleDevice, "single-device", false, singleDeviceHelp)
	return cmd
}

func (a *app) runPrune(ctx context.Context, location string, o pruneOptions) error {
	if o.policy.KeepLast < 0 || o.policy.KeepDaily < 0 || o.policy.KeepWithin < 0 || o.grace < 0 {
		return usageErr("prune: --keep-last, --keep-daily, --keep-within and --grace must not be negative")
	}
	s, u, c, err := a.openCatalog(ctx, location, o.cacheDir, true)
	if err != nil {
		return err
	}
	defer s.Close()
	opts := history.PruneOptions{Policy: o.policy, Grace: o.grace, DryRun: o.dryRun}
	if o.grace == 0 {
		opts.Grace = -1 // the library's zero means its default
	}
	if o.dryRun {
		res, err := history.Prune(ctx, s, c, opts)
		if err != nil {
			return rollbackErr(s, err)
		}
		a.printPrune(res, o)
		return nil
	}
	bar := newProgress(a.stderr, "deleting")
	opts.Progress = bar.update
	var res *history.PruneResult
	err = a.withWriterLease(ctx, s, u, deviceName(), "pruning", o.singleDevice, func(_ remote.Store, l *lease.Lease) error {
		opts.Guard = l.Check
		opts.Now = storeClock(ctx, s)
		res, err = history.Prune(ctx, s, c, opts)
		return err
	})
	bar.finish()
	if err != nil {
		return rollbackErr(s, err)
	}
	a.printPrune(res, o)
	return nil
}

func (a *app) printPrune(res *history.PruneResult, o pruneOptions) {
	w := a.stdout
	verb, del := "forgot", "deleted"
	if o.dryRun {
		verb, del = "would forget", "would delete"
	}
	fmt.Fprintf(w, "policy: %s: keeping %d snapshots, %s %d\n", o.policy, len(res.Kept), verb, len(res.Forgotten))
	for _, s := range res.Forgotten {
		fmt.Fprintf(w, "  %s snapshot %s of %s (%s)\n", verb, s.ID, s.Time.Local().Format("2006-01-02 15:04:05"), s.Device)
	}
	if o.dryRun {
		for _, obj := range res.Deleted {
			fmt.Fprintf(w, "  %s %s (%s)\n", del, obj.Key, humanBytes(obj.Size))
		}
	}
	fmt.Fprintf(w, "%s %d objects (%s); %d objects in use (%s)\n", del, len(res.Deleted), humanBytes(res.DeletedBytes), res.Live, humanBytes(res.LiveBytes))
	if res.Young > 0 {
		fmt.Fprintf(w, "kept %d unused objects (%s) younger than %s; a later prune deletes them\n", res.Young, humanBytes(res.YoungBytes), o.grace)
	}
}

// storeClock returns a clock on the store's time: the grace period is
// compared with the objects' modification times, which the store sets, so
// a local clock running ahead of the store's must not make fresh uploads
// look old. The lease object was just written, so its time is the store's
// "now" (or a little before, which only keeps more). It is read from a
// listing, which S3 gives in milliseconds: a HEAD's Last-Modified has whole
// seconds and would set the clock back by up to one.
func storeClock(ctx context.Context, s remote.Store) func() time.Time {
	var mod time.Time
	_ = s.List(ctx, layout.Lease, func(o remote.ObjectInfo) error {
		if o.Key == layout.Lease {
			mod = o.ModTime
		}
		return nil
	})
	if mod.IsZero() {
		return time.Now
	}
	offset := time.Until(mod)
	return func() time.Time { return time.Now().Add(min(offset, 0)) }
}
