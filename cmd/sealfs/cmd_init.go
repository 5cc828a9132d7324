package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

// initOptions are the parameters of a new vault.
type initOptions struct {
	kdfMemory  uint32
	kdfTime    uint32
	kdfThreads uint8
	cipher     string
	mounting   bool // mount --init: the vault is mounted next, no "Next:" hint
	generate   bool // init --generate-passphrase
}

func (o *initOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Uint32Var(&o.kdfMemory, "kdf-memory", crypt.DefaultKDF.MemoryMiB,
		fmt.Sprintf("Argon2id memory in MiB (at least %d)", crypt.MinKDF.MemoryMiB))
	f.Uint32Var(&o.kdfTime, "kdf-time", crypt.DefaultKDF.Time,
		fmt.Sprintf("Argon2id passes (at least %d)", crypt.MinKDF.Time))
	f.Uint8Var(&o.kdfThreads, "kdf-threads", crypt.DefaultKDF.Threads, "Argon2id parallelism")
	f.StringVar(&o.cipher, "cipher", "aes-gcm", "content cipher: aes-gcm or xchacha20")
}

func (a *app) initCommand() *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init STORE",
		Short: "Create a new vault in STORE and print its recovery key",
		Long: `init creates a new, empty vault in STORE: a random master key wrapped by your
passphrase (Argon2id) and by a recovery key. The recovery key is printed once:
write it down. init never overwrites an existing vault.

A passphrase that zxcvbn rates easy to guess is refused (exit 2): anyone who
can read the bucket can try guesses offline. --generate-passphrase makes a
strong one (six random words), printed once.`,
		Args: exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.createStore(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = a.initVault(cmd.Context(), s, o)
			return err
		},
	}
	o.addFlags(cmd)
	cmd.Flags().BoolVar(&o.generate, "generate-passphrase", false, "generate a random passphrase of six words and print it once")
	return cmd
}

// initVault creates the vault and the first (empty) commit, prints the
// recovery key, and returns the unlocked vault.
func (a *app) initVault(ctx context.Context, s remote.Store, o initOptions) (*unlocked, error) {
	kdf := crypt.KDFParams{Time: o.kdfTime, MemoryMiB: o.kdfMemory, Threads: o.kdfThreads}
	if kdf.MemoryMiB < crypt.MinKDF.MemoryMiB || kdf.Time < crypt.MinKDF.Time || kdf.Threads < 1 {
		return nil, usageErr("Argon2id parameters too weak (memory %d MiB, time %d, threads %d): the minimum is %d MiB, time %d, 1 thread",
			kdf.MemoryMiB, kdf.Time, kdf.Threads, crypt.MinKDF.MemoryMiB, crypt.MinKDF.Time)
	}
	suite, err := crypt.ParseSuite(o.cipher)
	if err != nil {
		return nil, usageErr("unknown --cipher %q: use aes-gcm or xchacha20", o.cipher)
	}
	if _, err := s.Stat(ctx, layout.Vault); err == nil {
		return nil, vaultErr(s, vault.ErrVaultExists) // before asking for a passphrase
	} else if !errors.Is(err, remote.ErrNotFound) {
		return nil, fmt.Errorf("checking for an existing vault: %w", err)
	}
	pass, err := a.newVaultPassphrase(s, kdf, o.generate, a.passphraseFile, "passphrase-file", envPassphrase)
	if err != nil {
		return nil, err
	}
	u, rk, err := vault.Create(ctx, s, vault.CreateOptions{Suite: suite, KDF: kdf, Passphrase: pass, Device: deviceName()})
	if err != nil {
		clear(pass)
		return nil, vaultErr(s, err)
	}
	lockKeys(u, a.logger)
	if o.generate {
		a.printGenerated(pass)
	}
	clear(pass)
	a.printRecoveryKey(s, suite, kdf, rk, !o.mounting)
	return u, nil
}

func (a *app) printRecoveryKey(s remote.Store, suite crypt.Suite, kdf crypt.KDFParams, rk crypt.RecoveryKey, next bool) {
	fmt.Fprintf(a.stdout, `Created a sealfs vault in %s (cipher %s, Argon2id %d MiB, %d passes).

RECOVERY KEY - write it down now and keep it somewhere safe.
It is shown only this once. With it you can open this vault and set a new
passphrase if you ever forget yours ('sealfs passwd --recovery-key-file').

    %s

`, s, suite, kdf.MemoryMiB, kdf.Time, rk.Display())
	if next {
		fmt.Fprintf(a.stdout, "Next: sealfs mount %s MOUNTPOINT\n", s)
	}
}
