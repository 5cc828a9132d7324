package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/fs/history"
)

func (a *app) checkCommand() *cobra.Command {
	var readData, asJSON bool
	var cacheDir string
	cmd := &cobra.Command{
		Use:   "check STORE",
		Short: "Verify the vault; name every damaged file (exit 12 on damage)",
		Long: `check verifies the metadata chain (head, snapshots, journal), every snapshot
in the catalog, and that every object the current files and the snapshots use
exists with the right size; with --read-data it also downloads and
authenticates every segment of every object. Each damaged file is named on one
line with its path and the snapshots it is damaged in ("current" is the
current files). Unreferenced objects are reported but are not damage.

Exit codes: 0 no damage, 12 damage found, 1 the check could not run.`,
		Args: exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, _, c, err := a.openCatalog(ctx, args[0], cacheDir, true)
			if err != nil {
				return err
			}
			defer s.Close()
			bar := newProgress(a.stderr, "reading data")
			res, err := history.Check(ctx, s, c, history.CheckOptions{ReadData: readData, Progress: bar.update})
			bar.finish()
			if err != nil {
				return rollbackErr(s, fmt.Errorf("check could not finish: %w", err))
			}
			if asJSON {
				return a.printCheckJSON(res, readData)
			}
			return a.printCheck(res, readData)
		},
	}
	cmd.Flags().BoolVar(&readData, "read-data", false, "download and authenticate every object (reads the whole vault)")
	cacheDirFlag(cmd, &cacheDir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (keys in docs/OPERATIONS.md, \"JSON output\"); damage still exits 12")
	return cmd
}

func (a *app) printCheck(res *history.CheckResult, readData bool) error {
	w := a.stdout
	how := "sizes checked"
	if readData {
		how = "all data read and authenticated"
	}
	fmt.Fprintf(w, "checked the current files and %d snapshots: %d objects, %s, %s\n", res.Snapshots, res.Objects, humanBytes(res.Bytes), how)
	if len(res.Unreferenced) > 0 {
		fmt.Fprintf(w, "%d unreferenced objects (%s): not damage; 'sealfs prune' deletes them\n", len(res.Unreferenced), humanBytes(res.UnreferencedBytes))
	}
	for _, d := range res.Damage {
		fmt.Fprintf(w, "damaged: %s\n", d)
	}
	if res.Damaged() {
		return withCode(exitDamage, fmt.Errorf("check found %d damaged items", len(res.Damage)),
			"restore them from another copy, or from an undamaged snapshot with 'sealfs mount --snapshot'")
	}
	fmt.Fprintln(w, "no damage found")
	return nil
}
