package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/vault"
)

func (a *app) passwdCommand() *cobra.Command {
	var newFile string
	var kdf initOptions
	var singleDevice, generate bool
	cmd := &cobra.Command{
		Use:   "passwd STORE",
		Short: "Change the passphrase (with the old one or the recovery key)",
		Long: `passwd sets a new passphrase. Unlock with the current passphrase, or with
--recovery-key-file if it is lost. Only the passphrase key slot is rewritten;
no data is touched and the recovery key stays valid. The new passphrase comes
from --new-passphrase-file, SEALFS_NEW_PASSPHRASE, or a prompt; a passphrase
that zxcvbn rates easy to guess is refused (exit 2). --generate-passphrase
makes a strong one (six random words), printed once.`,
		Args: exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := oneNewPassphrase(generate, newFile, "new-passphrase-file", envNewPassphrase); err != nil {
				return err // before asking for the old one
			}
			s, u, err := a.openUnlocked(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ws, err := a.provenStore(ctx, s, singleDevice) // before asking for the new passphrase
			if err != nil {
				return err
			}
			params := crypt.KDFParams{Time: kdf.kdfTime, MemoryMiB: kdf.kdfMemory, Threads: kdf.kdfThreads}
			if !cmd.Flags().Changed("kdf-memory") && !cmd.Flags().Changed("kdf-time") && !cmd.Flags().Changed("kdf-threads") {
				params = u.Vault.KDF() // keep the vault's strength unless asked
			}
			pass, err := a.newVaultPassphrase(s, params, generate, newFile, "new-passphrase-file", envNewPassphrase)
			if err != nil {
				return err
			}
			defer clear(pass)
			err = vault.SetPassphrase(ctx, ws, u, pass, params)
			switch {
			case errors.Is(err, vault.ErrVaultChanged):
				return errors.New("the vault changed while we worked (another passwd?): nothing was changed, run passwd again")
			case errors.Is(err, vault.ErrBadPassphrase):
				return withCode(exitUsage, err, "")
			case err != nil:
				return err
			}
			if generate {
				a.printGenerated(pass)
			}
			fmt.Fprintln(a.stdout, "Passphrase changed. The recovery key is unchanged.")
			return nil
		},
	}
	cmd.Flags().StringVar(&newFile, "new-passphrase-file", "", "read the new passphrase from this file")
	cmd.Flags().BoolVar(&singleDevice, "single-device", false, singleDeviceHelp)
	cmd.Flags().BoolVar(&generate, "generate-passphrase", false, "generate a random new passphrase of six words and print it once")
	kdf.addFlags(cmd)
	cmd.Flags().MarkHidden("cipher")
	return cmd
}
