package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/localstate"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// openStore opens STORE (a local path or s3://bucket/prefix).
func (a *app) openStore(ctx context.Context, location string) (remote.Store, error) {
	s, err := remote.Open(ctx, location, remote.Options{
		Endpoint:   a.s3Endpoint,
		Insecure:   a.insecureHTTP,
		CACertFile: a.caCert,
		Logger:     a.logger,
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

// unlocked is an opened vault.
type unlocked struct {
	vault  *crypt.Vault
	master crypt.Key
	keys   *crypt.Keys
	etag   string // of vault.json, for compare-and-swap rewrites
}

// readVault fetches and parses vault.json.
func readVault(ctx context.Context, s remote.Store) (*crypt.Vault, string, error) {
	data, info, err := s.Get(ctx, layout.Vault)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, "", withCode(exitError, fmt.Errorf("no sealfs vault in %s", s),
			fmt.Sprintf("create one with 'sealfs init %s', or check the store address", s))
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", layout.Vault, err)
	}
	v, err := crypt.ParseVault(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s in %s is damaged or from a newer sealfs: %w", layout.Vault, s, err)
	}
	return v, info.ETag, nil
}

// unlock opens the vault with the recovery key if one was given, else with
// the passphrase. A wrong secret exits with code 10.
func (a *app) unlock(ctx context.Context, s remote.Store) (*unlocked, error) {
	v, etag, err := readVault(ctx, s)
	if err != nil {
		return nil, err
	}
	rk, haveRK, err := a.recoveryKey()
	if err != nil {
		return nil, err
	}
	var master crypt.Key
	if haveRK {
		master, err = v.UnlockRecovery(rk)
		if errors.Is(err, crypt.ErrAuth) && !errors.Is(err, crypt.ErrVaultModified) {
			return nil, withCode(exitWrongKey, errors.New("wrong recovery key for this vault"),
				"check the 64 digits, or unlock with the passphrase instead")
		}
	} else {
		var pass []byte
		if pass, err = a.passphrase(); err != nil {
			return nil, err
		}
		master, err = v.UnlockPassphrase(pass)
		clear(pass)
		if errors.Is(err, crypt.ErrAuth) && !errors.Is(err, crypt.ErrVaultModified) {
			return nil, withCode(exitWrongKey, errors.New("wrong passphrase for this vault"),
				"try again, or unlock with --recovery-key-file")
		}
	}
	if errors.Is(err, crypt.ErrVaultModified) {
		// The secret opened its slot, so it is right: the file was edited.
		return nil, fmt.Errorf("%s in %s was modified after it was written (its MAC does not match): it was damaged or tampered with; restore it from a copy", layout.Vault, s)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open vault: %w", err)
	}
	keys := crypt.DeriveKeys(master, v.Suite(), v.ChunkSize())
	u := &unlocked{vault: v, master: master, keys: keys, etag: etag}
	lockKeys(u, a.logger)
	return u, nil
}

// defaultCacheDir is this vault's local directory on this device: ciphertext
// only (staged objects, sealed local state). Keyed by the store address so two
// vaults never share one.
func defaultCacheDir(s remote.Store) (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory: set --cache-dir or HOME: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	sum := sha256.Sum256([]byte(s.String()))
	return filepath.Join(base, "sealfs", hex.EncodeToString(sum[:8])), nil
}

// deviceState opens this device's sealed state of the vault in s: the
// high-water mark of the commits it has seen (rollback detection). It
// lives in cacheDir, or in the vault's default cache directory.
func deviceState(s remote.Store, u *unlocked, cacheDir string) (*localstate.State, error) {
	if cacheDir == "" {
		var err error
		if cacheDir, err = defaultCacheDir(s); err != nil {
			return nil, err
		}
	}
	st, err := localstate.Open(cacheDir, u.keys.Local)
	if err != nil {
		return nil, fmt.Errorf("this device's state for the vault: %w", err)
	}
	return st, nil
}

// headGuard is the rollback check of every command that loads the
// vault's head (mount, check, prune, info, snapshot), given to the
// loader so that it checks exactly the head it loads: a head older than,
// or forking from, a commit this device has already seen is refused
// (*localstate.RollbackError); any other head raises the device's mark.
// With accept (--accept-rollback) the head becomes the mark even if it is
// older.
func headGuard(st *localstate.State, accept bool) func(meta.Head) error {
	return func(h meta.Head) error {
		if accept {
			return st.Accept(h)
		}
		if err := st.CheckRollback(h); err != nil {
			return err
		}
		return st.Observe(h)
	}
}

// rollbackErr turns a refused head into the CLI's message and exit code.
func rollbackErr(s remote.Store, err error) error {
	if errors.Is(err, meta.ErrRollback) {
		return withCode(exitError, fmt.Errorf("%s: %w", s, err), "")
	}
	return err
}

// deviceName is the default --device: the host name.
func deviceName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown-device"
	}
	return h
}
