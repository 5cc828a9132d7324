package main

import (
	"context"

	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

// singleDeviceHelp is the --single-device flag's help, on every command
// that writes to the store conditionally.
const singleDeviceHelp = "write even if the store does not honour conditional writes: sealfs then checks the conditions itself, which is safe only while no other device writes to the store"

// provenStore runs the store's conditional-write self-test before a
// command's first conditional write (vault.ProveStore) and returns the
// store to write through; in single-device mode it says so on stderr.
func (a *app) provenStore(ctx context.Context, s remote.Store, singleDevice bool) (remote.Store, error) {
	ws, emulated, err := vault.ProveStore(ctx, s, singleDevice)
	if err != nil {
		return nil, vaultErr(s, err)
	}
	if emulated {
		a.warnSingleDevice(s)
	}
	return ws, nil
}

// warnSingleDevice says that this process checks the store's conditions
// itself.
func (a *app) warnSingleDevice(s remote.Store) {
	a.logger.Debug("single-device mode: the store does not honour conditional writes", "store", s.String())
	a.notice("warning: " + s.String() + " does not honour conditional writes; in single-device mode this process checks them itself: never write to it from two devices at once")
}
