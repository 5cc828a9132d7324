package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/lease"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

func (a *app) infoCommand() *cobra.Command {
	var cacheDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info STORE",
		Short: "Show the vault's format, cipher, size and last commit",
		Args:  exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, u, err := a.openUnlocked(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := deviceState(s, u, cacheDir)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printInfoJSON(ctx, s, u, headGuard(st, false))
			}
			return a.printInfo(ctx, s, u, headGuard(st, false))
		},
	}
	cacheDirFlag(cmd, &cacheDir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (keys in docs/OPERATIONS.md, \"JSON output\")")
	return cmd
}

// vaultInfo is what info shows, gathered once for the text and the JSON
// renderings.
type vaultInfo struct {
	head     meta.Head
	headErr  error // the last commit is unreadable
	lease    lease.Info
	leaseErr error // the writer lease is unreadable
	usage    map[string]usageCount
	kdf      crypt.KDFParams
}

// gatherInfo reads what info shows; the head passes checkHead (this
// device's rollback check) first, and a rolled-back store is an error.
func gatherInfo(ctx context.Context, s remote.Store, u *unlocked, checkHead func(meta.Head) error) (*vaultInfo, error) {
	var in vaultInfo
	in.head, in.headErr = meta.ReadHead(ctx, s, u.Keys)
	if in.headErr == nil {
		in.headErr = checkHead(in.head)
	}
	if errors.Is(in.headErr, meta.ErrRollback) {
		return nil, rollbackErr(s, in.headErr)
	}
	var err error
	if in.usage, err = storeUsage(ctx, s); err != nil {
		return nil, err
	}
	in.lease, in.leaseErr = lease.Read(ctx, s, u.Keys)
	in.kdf = u.Vault.KDF()
	return &in, nil
}

// printInfo prints what the vault is.
func (a *app) printInfo(ctx context.Context, s remote.Store, u *unlocked, checkHead func(meta.Head) error) error {
	in, err := gatherInfo(ctx, s, u, checkHead)
	if err != nil {
		return err
	}
	kdf := in.kdf
	w := a.stdout
	fmt.Fprintf(w, "Store:        %s\n", s)
	fmt.Fprintf(w, "Format:       %d (vault.json version; objects and records version %d)\n", u.Vault.Version(), crypt.FormatVersion)
	fmt.Fprintf(w, "Cipher:       %s, chunks of %s\n", u.Vault.Suite(), humanBytes(int64(u.Vault.ChunkSize())))
	fmt.Fprintf(w, "Passphrase:   Argon2id, %d MiB, %d passes, %d threads\n", kdf.MemoryMiB, kdf.Time, kdf.Threads)
	fmt.Fprintf(w, "Guess cost:   %s\n", guessCostLine(kdf))
	if in.headErr != nil {
		fmt.Fprintf(w, "Last commit:  unreadable: %v\n", in.headErr)
	} else {
		fmt.Fprintf(w, "Last commit:  #%d at %s by device %q\n", in.head.Seq, in.head.Time.Local().Format(time.RFC3339), in.head.Device)
	}
	if in.leaseErr != nil {
		fmt.Fprintf(w, "Writer lease: unreadable: %v\n", in.leaseErr)
	} else {
		fmt.Fprintf(w, "Writer lease: %s\n", in.lease)
	}
	for _, k := range []string{"data", "meta"} {
		fmt.Fprintf(w, "%-13s %d objects, %s\n", strings.ToUpper(k[:1])+k[1:]+":", in.usage[k].count, humanBytes(in.usage[k].bytes))
	}
	return nil
}

type usageCount struct{ count, bytes int64 }

// storeUsage counts objects and bytes under each top-level prefix.
func storeUsage(ctx context.Context, s remote.Store) (map[string]usageCount, error) {
	out := map[string]usageCount{}
	err := s.List(ctx, "", func(o remote.ObjectInfo) error {
		top, _, _ := strings.Cut(o.Key, "/")
		u := out[top]
		u.count++
		u.bytes += o.Size
		out[top] = u
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", s, err)
	}
	return out, nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
