package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealfs/sealfs/remote"
)

// singleDeviceHelp is the --single-device flag's help, on every command
// that writes to the store conditionally.
const singleDeviceHelp = "write even if the store does not honour conditional writes: sealfs then checks the conditions itself, which is safe only while no other device writes to the store"

// provenStore runs the store's conditional-write self-test before a
// command's first conditional write (a read-write mount's head and lease,
// the lease of snapshot and prune, vault.json for passwd) and returns the
// store to write through. For S3 the self-test also sets the store to the
// If-Match form it proved, so every compare-and-swap of the command uses
// it. A store without working conditional writes is refused, unless
// singleDevice: then the returned store checks the conditions itself
// (remote.SingleWriter), which holds only while no other device writes.
func (a *app) provenStore(ctx context.Context, s remote.Store, singleDevice bool) (remote.Store, error) {
	err := remote.SelfTestConditional(ctx, s)
	switch {
	case err == nil:
		if f, ok := remote.As[remote.IfMatchFormSetter](s); ok {
			a.logger.Debug("the store honours conditional writes", "store", s.String(), "if_match", f.IfMatchForm().String())
		}
		return s, nil
	case errors.Is(err, remote.ErrNoConditionalWrites) && singleDevice:
		a.logger.Debug("single-device mode", "err", err)
		fmt.Fprintf(a.stderr, "sealfs: warning: %s does not honour conditional writes; in single-device mode this process checks them itself: never write to it from two devices at once\n", s)
		// The condition checks go under the retry wrapper, so that the
		// retry stays the outermost layer (vault.Open adds one otherwise).
		if r, ok := s.(*remote.Retry); ok {
			return remote.WithRetry(remote.WithSingleWriter(r.Store), r.Options()), nil
		}
		return remote.WithSingleWriter(s), nil
	case errors.Is(err, remote.ErrNoConditionalWrites):
		return nil, withCode(exitError, err, "or, if only this device ever writes to it, accept single-device mode with --single-device")
	}
	return nil, fmt.Errorf("checking the store's conditional writes: %w", err)
}
