package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/localstate"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

// openStore opens STORE (a local path or s3://bucket/prefix); a local
// directory must exist (see createStore).
func (a *app) openStore(ctx context.Context, location string) (remote.Store, error) {
	return a.openStoreDir(ctx, location, false)
}

// createStore is openStore for a command that may create the vault (init,
// mount --init): a local directory is created if missing.
func (a *app) createStore(ctx context.Context, location string) (remote.Store, error) {
	return a.openStoreDir(ctx, location, true)
}

func (a *app) openStoreDir(ctx context.Context, location string, create bool) (remote.Store, error) {
	s, err := remote.Open(ctx, location, remote.Options{
		Endpoint:   a.s3Endpoint,
		Insecure:   a.insecureHTTP,
		CACertFile: a.caCert,
		Logger:     a.logger,
		CreateDir:  create,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open store %s: %w", location, err)
	}
	return s, nil
}

// openUnlocked opens STORE and unlocks its vault; the caller closes the
// store.
func (a *app) openUnlocked(ctx context.Context, location string) (remote.Store, *unlocked, error) {
	s, err := a.openStore(ctx, location)
	if err != nil {
		return nil, nil, err
	}
	u, err := a.unlock(ctx, s)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, u, nil
}

// unlocked is an opened vault (vault.Unlocked).
type unlocked = vault.Unlocked

// unlock opens the vault with the recovery key if one was given, else with
// the passphrase (vault.Unlock), and maps its errors to messages and exit
// codes: a wrong secret exits with code 10.
func (a *app) unlock(ctx context.Context, s remote.Store) (*unlocked, error) {
	v, etag, err := vault.ReadVault(ctx, s) // before asking for a secret
	if err != nil {
		return nil, vaultErr(s, err)
	}
	var sec vault.Secret
	rk, haveRK, err := a.recoveryKey()
	if err != nil {
		return nil, err
	}
	if haveRK {
		sec.RecoveryKey = &rk
	} else if sec.Passphrase, err = a.passphrase(); err != nil {
		return nil, err
	}
	warnIfWeak := a.warnIfWeak(s, sec.Passphrase)
	u, err := vault.UnlockVault(s, v, etag, sec)
	clear(sec.Passphrase)
	if err != nil {
		return nil, vaultErr(s, err)
	}
	lockKeys(u, a.logger)
	warnIfWeak()
	return u, nil
}

// vaultErr maps the errors of opening a vault to the CLI's messages, hints
// and exit codes.
func vaultErr(s remote.Store, err error) error {
	switch {
	case errors.Is(err, vault.ErrNoVault):
		return withCode(exitError, fmt.Errorf("no sealfs vault in %s", s),
			fmt.Sprintf("create one with 'sealfs init %s', or check the store address", s))
	case errors.Is(err, vault.ErrWrongRecoveryKey):
		return withCode(exitWrongKey, errors.New("wrong recovery key for this vault"),
			"check the 64 digits, or unlock with the passphrase instead")
	case errors.Is(err, vault.ErrWrongPassphrase):
		return withCode(exitWrongKey, errors.New("wrong passphrase for this vault"),
			"try again, or unlock with --recovery-key-file")
	case errors.Is(err, crypt.ErrVaultModified):
		return withCode(exitError, fmt.Errorf("%s in %s was modified after it was written (its MAC does not match): it was damaged or tampered with", layout.Vault, s),
			"restore it from a copy")
	case errors.Is(err, vault.ErrVaultExists):
		return fmt.Errorf("a vault already exists in %s: refusing to overwrite it (mount it, or choose another location)", s)
	case errors.Is(err, vault.ErrHeadLost):
		return fmt.Errorf("the vault in %s holds commits but its %q object is missing: the store was damaged or tampered with; refusing to mount it as an empty vault", s, layout.Head)
	case errors.Is(err, vault.ErrNoCommitYet):
		return fmt.Errorf("the vault in %s has no commit yet (its init did not finish): mount it read-write once", s)
	case errors.Is(err, localstate.ErrLocked):
		return withCode(exitLeaseHeld, err, "unmount it first, or mount read-only with --read-only")
	case errors.Is(err, remote.ErrNoConditionalWrites):
		return withCode(exitError, err, "or, if only this device ever writes to it, accept single-device mode with --single-device")
	}
	var held *lease.HeldError
	if errors.As(err, &held) {
		return withCode(exitLeaseHeld, err, "")
	}
	return rollbackErr(s, err)
}

// deviceState opens this device's sealed state of the vault in s (in
// cacheDir, or the default one).
func deviceState(s remote.Store, u *unlocked, cacheDir string) (*localstate.State, error) {
	return vault.State(s, u, cacheDir)
}

// headGuard is vault.HeadGuard.
func headGuard(st *localstate.State, accept bool) func(meta.Head) error {
	return vault.HeadGuard(st, accept)
}

// rollbackErr turns a refused head into the CLI's one line and exit code,
// the same for every command: the store and what this device saw, without
// the layers the refusal passed through, and one hint.
func rollbackErr(s remote.Store, err error) error {
	var ce *cliError
	if errors.As(err, &ce) || !errors.Is(err, meta.ErrRollback) {
		return err
	}
	var rb *localstate.RollbackError
	if errors.As(err, &rb) {
		err = rb
	}
	return withCode(exitError, fmt.Errorf("%s: %w", s, err), rollbackHint)
}

// rollbackHint is what to do about a rolled-back store.
const rollbackHint = "if the store was restored from a backup on purpose, add --accept-rollback to mount, ls or restore"

// deviceName is the default --device: the host name.
func deviceName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown-device"
	}
	return h
}
