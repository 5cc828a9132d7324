package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// Opening a vault, step by step, for every front door (docs/FORMAT.md,
// "vault.json"; docs/SECURITY.md): Create makes one; Unlock opens
// vault.json with a secret; EnsureHead refuses a vault that lost its head
// and finishes an interrupted Create; OpenDevice (device.go) takes this
// device's lock and state, proves the store's conditional writes, takes
// the writer lease and arms the rollback check; then Open (vault.go)
// loads the tree. The CLI only asks for secrets, maps these errors to its
// messages and exit codes, and prints.

// Errors of opening a vault (match with errors.Is).
var (
	// ErrNoVault: the store holds no vault.json.
	ErrNoVault = errors.New("vault: no sealfs vault in the store")
	// ErrVaultExists: Create found a vault already there.
	ErrVaultExists = errors.New("vault: a vault already exists in the store")
	// ErrWrongPassphrase and ErrWrongRecoveryKey: the secret does not open
	// its key slot.
	ErrWrongPassphrase  = errors.New("vault: wrong passphrase for this vault")
	ErrWrongRecoveryKey = errors.New("vault: wrong recovery key for this vault")
	// ErrHeadLost: the vault holds commits, data or snapshots but no head
	// (damage, or a hostile bucket): showing it as empty and committing
	// over it would lose everything.
	ErrHeadLost = errors.New("vault: the vault holds commits but its head is missing")
	// ErrNoCommitYet: the vault's creation stopped before its first
	// commit, and only a read-write open may finish it.
	ErrNoCommitYet = errors.New("vault: the vault has no commit yet (its creation did not finish)")
)

// Unlocked is a vault whose key slot opened: its parameters (verified by
// the vault MAC), master key and subkeys.
type Unlocked struct {
	Vault  *crypt.Vault
	Master crypt.Key
	Keys   *crypt.Keys
	// ETag is vault.json's as read, for a compare-and-swap rewrite
	// (passwd); empty when the vault was handed over (UnlockMaster).
	ETag string
}

// Secret opens one key slot: a passphrase, or (if not nil) the recovery
// key.
type Secret struct {
	Passphrase  []byte
	RecoveryKey *crypt.RecoveryKey
}

// ReadVault fetches and parses vault.json (not yet authenticated: only a
// key can check its MAC). A missing one is ErrNoVault; a damaged one (or
// one from a newer sealfs) wraps *crypt.ParseError.
func ReadVault(ctx context.Context, s remote.Store) (*crypt.Vault, string, error) {
	data, info, err := s.Get(ctx, layout.Vault)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, "", fmt.Errorf("%w %s", ErrNoVault, s)
	}
	if err != nil {
		return nil, "", fmt.Errorf("vault: reading %s: %w", layout.Vault, err)
	}
	v, err := crypt.ParseVault(data)
	if err != nil {
		return nil, "", fmt.Errorf("vault: %s in %s is damaged or from a newer sealfs: %w", layout.Vault, s, err)
	}
	return v, info.ETag, nil
}

// Unlock reads vault.json and opens it with sec. A wrong secret is
// ErrWrongPassphrase or ErrWrongRecoveryKey; a right secret on an edited
// vault.json is crypt.ErrVaultModified (the slot opened, the MAC does not
// match).
func Unlock(ctx context.Context, s remote.Store, sec Secret) (*Unlocked, error) {
	v, etag, err := ReadVault(ctx, s)
	if err != nil {
		return nil, err
	}
	return UnlockVault(s, v, etag, sec)
}

// UnlockVault is Unlock of a vault.json already read with ReadVault (the
// CLI reads it before it asks for a secret, and must not read it again:
// the vault it unlocks is the one it read). s names the store in errors.
func UnlockVault(s remote.Store, v *crypt.Vault, etag string, sec Secret) (*Unlocked, error) {
	var master crypt.Key
	var err error
	wrong := ErrWrongPassphrase
	if sec.RecoveryKey != nil {
		master, err = v.UnlockRecovery(*sec.RecoveryKey)
		wrong = ErrWrongRecoveryKey
	} else {
		master, err = v.UnlockPassphrase(sec.Passphrase)
	}
	switch {
	case errors.Is(err, crypt.ErrVaultModified):
		return nil, fmt.Errorf("vault: %s in %s was modified after it was written (its MAC does not match): it was damaged or tampered with: %w", layout.Vault, s, err)
	case errors.Is(err, crypt.ErrAuth):
		return nil, wrong
	case err != nil:
		return nil, fmt.Errorf("vault: cannot open %s: %w", layout.Vault, err)
	}
	return &Unlocked{Vault: v, Master: master, Keys: crypt.DeriveKeys(master, v.Suite(), v.ChunkSize()), ETag: etag}, nil
}

// UnlockMaster is Unlock for a vault and master key handed over by a
// process that unlocked them (a --daemon mount's parent): the MAC is
// checked again, so parameters that are not the vault's never set up a
// mount.
func UnlockMaster(v *crypt.Vault, master crypt.Key) (*Unlocked, error) {
	if err := v.Verify(master); err != nil {
		return nil, fmt.Errorf("vault: the vault handed over does not match the key: %w", err)
	}
	return &Unlocked{Vault: v, Master: master, Keys: crypt.DeriveKeys(master, v.Suite(), v.ChunkSize())}, nil
}

// CreateOptions are the parameters of a new vault.
type CreateOptions struct {
	Suite      crypt.Suite
	ChunkSize  int // 0: crypt.DefaultChunkSize
	KDF        crypt.KDFParams
	Passphrase []byte
	Device     string    // recorded with the first commit
	Rand       io.Reader // nil: crypto/rand
}

// Create makes a new, empty vault in s: vault.json (create-only: never
// over another vault, ErrVaultExists) and its first commit. It returns the
// unlocked vault and the recovery key, which the caller shows once.
func Create(ctx context.Context, s remote.Store, o CreateOptions) (*Unlocked, crypt.RecoveryKey, error) {
	if o.ChunkSize == 0 {
		o.ChunkSize = crypt.DefaultChunkSize
	}
	if _, err := s.Stat(ctx, layout.Vault); err == nil {
		return nil, crypt.RecoveryKey{}, fmt.Errorf("%w %s", ErrVaultExists, s)
	} else if !errors.Is(err, remote.ErrNotFound) {
		return nil, crypt.RecoveryKey{}, fmt.Errorf("vault: checking for an existing vault: %w", err)
	}
	v, master, rk, err := crypt.NewVault(o.Rand, o.Suite, o.ChunkSize, o.Passphrase, o.KDF)
	if err != nil {
		return nil, crypt.RecoveryKey{}, fmt.Errorf("vault: creating the vault: %w", err)
	}
	data, err := v.Marshal()
	if err != nil {
		return nil, crypt.RecoveryKey{}, fmt.Errorf("vault: encoding the vault: %w", err)
	}
	etag, err := s.Put(ctx, layout.Vault, data, remote.PutOptions{IfNoneMatch: true})
	if errors.Is(err, remote.ErrPrecondition) {
		return nil, crypt.RecoveryKey{}, fmt.Errorf("%w %s", ErrVaultExists, s)
	}
	if err != nil {
		return nil, crypt.RecoveryKey{}, fmt.Errorf("vault: writing %s: %w", layout.Vault, err)
	}
	u := &Unlocked{Vault: v, Master: master, Keys: crypt.DeriveKeys(master, o.Suite, v.ChunkSize()), ETag: etag}
	if err := createHead(ctx, s, u.Keys, o.Device); err != nil {
		return nil, crypt.RecoveryKey{}, err
	}
	return u, rk, nil
}

// createHead writes the first, empty commit of a vault.
func createHead(ctx context.Context, s remote.Store, k *crypt.Keys, device string) error {
	tree := meta.NewTree(k.ChunkSize, uint32(os.Getuid()), uint32(os.Getgid()), time.Now().UnixNano())
	if _, err := meta.Create(ctx, s, k, tree, meta.LogOptions{Device: device}); err != nil {
		return fmt.Errorf("vault: writing the first commit: %w", err)
	}
	return nil
}

// EnsureHead checks that the vault has a head before it is opened. A
// vault whose creation stopped before its first commit gets it now (with
// readOnly, ErrNoCommitYet instead); a vault that holds commits, data or
// snapshots but no head lost it (ErrHeadLost): a new empty head would
// show an empty vault and then commit over the real one.
func EnsureHead(ctx context.Context, s remote.Store, k *crypt.Keys, readOnly bool, device string) error {
	_, err := meta.ReadHead(ctx, s, k)
	if !errors.Is(err, remote.ErrNotFound) {
		return nil // present (a damaged head is Open's to report)
	}
	if err := refuseLostHead(ctx, s); err != nil {
		return err
	}
	if readOnly {
		return fmt.Errorf("%w: %s", ErrNoCommitYet, s)
	}
	return createHead(ctx, s, k, device)
}

// errHeadLost stops a List at the first sign of a past commit.
var errHeadLost = errors.New("head lost")

// refuseLostHead fails if s holds anything a commit past creation writes:
// a data object, a snapshot catalog record or metadata past the first
// commit.
func refuseLostHead(ctx context.Context, s remote.Store) error {
	found := func(remote.ObjectInfo) error { return errHeadLost }
	pastInit := func(info remote.ObjectInfo) error {
		if seq, _, ok := layout.ParseMetaKey(info.Key); ok && seq > 1 {
			return errHeadLost
		}
		return nil
	}
	for _, p := range []struct {
		prefix string
		fn     func(remote.ObjectInfo) error
	}{{layout.DataPrefix, found}, {layout.SnapshotPrefix, found}, {layout.MetaPrefix, pastInit}} {
		switch err := s.List(ctx, p.prefix, p.fn); {
		case errors.Is(err, errHeadLost):
			return fmt.Errorf("%w: the vault in %s holds commits but its %q object is missing: the store was damaged or tampered with; refusing to open it as an empty vault", ErrHeadLost, s, layout.Head)
		case err != nil:
			return fmt.Errorf("vault: listing %s: %w", p.prefix, err)
		}
	}
	return nil
}

// ErrBadPassphrase: a new passphrase or its KDF parameters were refused
// (empty, below the minimum); nothing was written.
var ErrBadPassphrase = errors.New("vault: passphrase refused")

// ErrVaultChanged: vault.json changed since it was read (a concurrent
// passwd); nothing was written.
var ErrVaultChanged = errors.New("vault: vault.json changed meanwhile (another passwd?): nothing was changed")

// SetPassphrase rewraps the passphrase slot of u with pass (Argon2id with
// kdf) and writes vault.json back with compare-and-swap on the ETag it was
// read with (ErrVaultChanged if someone else wrote it since), through s,
// a store whose conditional writes were proven (ProveStore). The master
// key, the data and the recovery slot do not change.
func SetPassphrase(ctx context.Context, s remote.Store, u *Unlocked, pass []byte, kdf crypt.KDFParams) error {
	if err := u.Vault.SetPassphrase(nil, u.Master, pass, kdf); err != nil {
		return fmt.Errorf("%w: %w", ErrBadPassphrase, err)
	}
	data, err := u.Vault.Marshal()
	if err != nil {
		return err
	}
	etag, err := s.Put(ctx, layout.Vault, data, remote.PutOptions{IfMatch: u.ETag})
	switch {
	case errors.Is(err, remote.ErrPrecondition):
		return ErrVaultChanged
	case err != nil:
		return fmt.Errorf("vault: writing %s: %w", layout.Vault, err)
	}
	u.ETag = etag
	return nil
}

// upgradeVault raises vault.json to crypt.VaultVersion (format 4) before
// this device writes anything in the new format: then an older sealfs,
// which cannot read format-2 metadata, does not know that chunk objects
// are shared by content in format 3, or would misread compressed chunks
// (batch version 4, op 10) of format 4, refuses the vault by its version
// ("upgrade sealfs") instead of failing on a head it cannot parse. The
// caller holds the writer lease. The swap is one compare-and-swap write
// of vault.json, so a crash leaves either the old file or the new one,
// both over older objects, which format 4 reads. A vault handed over
// without its ETag (a --daemon child) is read again and must authenticate
// with the master key; one another device upgraded meanwhile is taken as
// it is.
func upgradeVault(ctx context.Context, s remote.Store, u *Unlocked, log *slog.Logger) error {
	if u.Vault.Version() >= crypt.VaultVersion {
		return nil
	}
	v, etag := u.Vault, u.ETag
	for range 3 {
		if etag == "" {
			cur, e, err := ReadVault(ctx, s)
			if err != nil {
				return fmt.Errorf("vault: upgrading %s: %w", layout.Vault, err)
			}
			if err := cur.Verify(u.Master); err != nil {
				return fmt.Errorf("vault: upgrading %s: the stored one does not authenticate with this vault's key (tampered with?): %w", layout.Vault, err)
			}
			if cur.Version() >= crypt.VaultVersion {
				u.Vault, u.ETag = cur, e
				return nil
			}
			v, etag = cur, e
		}
		if err := v.Upgrade(u.Master); err != nil {
			return fmt.Errorf("vault: upgrading %s: %w", layout.Vault, err)
		}
		data, err := v.Marshal()
		if err != nil {
			return err
		}
		newTag, err := s.Put(ctx, layout.Vault, data, remote.PutOptions{IfMatch: etag})
		if errors.Is(err, remote.ErrPrecondition) {
			etag = "" // changed meanwhile (a passwd, another device's upgrade): read it again
			continue
		}
		if err != nil {
			return fmt.Errorf("vault: upgrading %s to version %d: %w", layout.Vault, crypt.VaultVersion, err)
		}
		u.Vault, u.ETag = v, newTag
		log.Info("vault upgraded to a newer format: sealfs versions older than this one can no longer open it", "version", crypt.VaultVersion)
		return nil
	}
	return fmt.Errorf("vault: upgrading %s: %w", layout.Vault, ErrVaultChanged)
}
