package vault

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// frozenVaultJSON is the vault.json of a frozen format-1 vault
// (tests/testdata/vaults) and its passphrase.
func frozenVaultJSON(t *testing.T) ([]byte, []byte) {
	t.Helper()
	dir := filepath.Join("..", "..", "tests", "testdata", "vaults", "format1-aes-gcm")
	data, err := os.ReadFile(filepath.Join(dir, "store", "vault.json"))
	ok(t, err)
	pass, err := os.ReadFile(filepath.Join(dir, "passphrase"))
	ok(t, err)
	return data, bytes.TrimRight(pass, "\n")
}

// storedVersion parses and authenticates the stored vault.json.
func storedVersion(t *testing.T, s remote.Store, master crypt.Key) int {
	t.Helper()
	v, _, err := ReadVault(context.Background(), s)
	ok(t, err)
	ok(t, v.Verify(master))
	return v.Version()
}

// TestUpgradeVault: a format-1 vault.json is raised to version 2 by one
// compare-and-swap write that keeps it authentic and unlockable; a vault
// handed over without its ETag is read again and must authenticate; an
// upgrade that lost the race to another device takes that device's; a
// stored vault.json that does not authenticate is never overwritten.
func TestUpgradeVault(t *testing.T) {
	ctx := context.Background()
	data, pass := frozenVaultJSON(t)
	log := slog.New(slog.DiscardHandler)
	fresh := func(t *testing.T) (remote.Store, *Unlocked) {
		s := remote.NewMemory()
		_, err := s.Put(ctx, layout.Vault, data, remote.PutOptions{})
		ok(t, err)
		u, err := Unlock(ctx, s, Secret{Passphrase: pass})
		ok(t, err)
		if u.Vault.Version() != 1 {
			t.Fatalf("the frozen vault.json is version %d", u.Vault.Version())
		}
		return s, u
	}
	t.Run("with its etag", func(t *testing.T) {
		s, u := fresh(t)
		ok(t, upgradeVault(ctx, s, u, log))
		if got := storedVersion(t, s, u.Master); got != crypt.VaultVersion || u.Vault.Version() != crypt.VaultVersion {
			t.Fatalf("stored version %d, in memory %d; want %d", got, u.Vault.Version(), crypt.VaultVersion)
		}
		if _, err := Unlock(ctx, s, Secret{Passphrase: pass}); err != nil {
			t.Fatalf("the upgraded vault does not unlock: %v", err)
		}
		puts := len(mustList(t, s))
		ok(t, upgradeVault(ctx, s, u, log)) // already done: nothing written
		if len(mustList(t, s)) != puts {
			t.Fatal("a second upgrade wrote")
		}
	})
	t.Run("handed over", func(t *testing.T) {
		s, u := fresh(t)
		h, err := UnlockMaster(u.Vault, u.Master)
		ok(t, err)
		ok(t, upgradeVault(ctx, s, h, log))
		if got := storedVersion(t, s, u.Master); got != crypt.VaultVersion {
			t.Fatalf("stored version %d", got)
		}
	})
	t.Run("another device upgraded first", func(t *testing.T) {
		s, u := fresh(t)
		other, err := Unlock(ctx, s, Secret{Passphrase: pass})
		ok(t, err)
		ok(t, upgradeVault(ctx, s, other, log)) // s is version 2 now
		ok(t, upgradeVault(ctx, s, u, log))     // u read version 1, with the old etag
		if got := storedVersion(t, s, u.Master); got != crypt.VaultVersion || u.Vault.Version() != crypt.VaultVersion {
			t.Fatalf("stored version %d, in memory %d", got, u.Vault.Version())
		}
	})
	t.Run("tampered", func(t *testing.T) {
		s, u := fresh(t)
		h, err := UnlockMaster(u.Vault, u.Master)
		ok(t, err)
		edited := bytes.Replace(data, []byte(`"chunk_size": 4194304`), []byte(`"chunk_size": 8388608`), 1)
		_, err = s.Put(ctx, layout.Vault, edited, remote.PutOptions{})
		ok(t, err)
		err = upgradeVault(ctx, s, h, log)
		if !errors.Is(err, crypt.ErrAuth) || !strings.Contains(err.Error(), "authenticate") {
			t.Fatalf("upgrade over an edited vault.json: %v, want an authentication error", err)
		}
		got, _, err := s.Get(ctx, layout.Vault)
		ok(t, err)
		if !bytes.Equal(got, edited) {
			t.Fatal("the edited vault.json was overwritten")
		}
	})
}

func mustList(t *testing.T, s remote.Store) []string {
	t.Helper()
	var keys []string
	ok(t, s.List(context.Background(), "", func(o remote.ObjectInfo) error {
		keys = append(keys, o.Key+"@"+o.ETag)
		return nil
	}))
	return keys
}
