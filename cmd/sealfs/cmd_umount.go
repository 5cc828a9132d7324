package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

func (a *app) umountCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "umount MOUNTPOINT",
		Short: "Unmount and wait until every change is committed",
		Long: `umount unmounts a sealfs mount and returns only after the serving process has
committed everything to the store and exited. It fails (and the mount stays)
if files are still open in it.`,
		Args: exactArgs(1, "MOUNTPOINT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			mnt, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			fstype, ok := mountedFSType(mnt)
			if !ok {
				return fmt.Errorf("%s is not mounted", mnt)
			}
			if fstype != fuseFSType {
				return fmt.Errorf("%s is not a sealfs mount (it is %s): use umount(8) for it", mnt, fstype)
			}
			bar := newProgress(a.stderr, "committing")
			err = requestUnmount(cmd.Context(), runtimeDir(), mnt, bar.update)
			bar.finish()
			if errors.Is(err, errNoServer) {
				return forceKernelUnmount(mnt)
			}
			return err
		},
	}
}

// forceKernelUnmount handles a mount whose process is gone (killed): the
// kernel still shows it, so unmount it; what was not committed is recovered
// at the next mount on this device.
func forceKernelUnmount(mnt string) error {
	if err := syscall.Unmount(mnt, 0); err != nil {
		if isBusy(err) {
			return fmt.Errorf("%s is busy: close the files open in it (see 'lsof %s') and try again", mnt, mnt)
		}
		return fmt.Errorf("unmounting %s: %w", mnt, err)
	}
	return errors.New("no sealfs process was serving this mount (it was killed?): unmounted it; mount again to finish any pending commit")
}
