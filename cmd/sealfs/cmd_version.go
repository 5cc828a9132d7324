package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// versionJSON is 'sealfs version --json': exactly these keys
// (docs/OPERATIONS.md, "Version").
type versionJSON struct {
	Version        string `json:"version"`  // the module version, "(devel)" for a build from a checkout
	Revision       string `json:"revision"` // the VCS commit, "" if unknown
	Modified       bool   `json:"modified"` // built from a checkout with uncommitted changes
	Go             string `json:"go"`       // the Go toolchain
	Platform       string `json:"platform"` // GOOS/GOARCH
	VaultFormat    int    `json:"vault_format"`
	VaultFormatMin int    `json:"vault_format_min"` // the oldest vault.json version this sealfs opens
	ObjectFormat   int    `json:"object_format"`
	HeadFormat     int    `json:"head_format"`
	BatchFormat    int    `json:"batch_format"`
}

// buildVersion describes this binary.
func buildVersion() versionJSON {
	v := versionJSON{
		Version: "(unknown)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		VaultFormat: crypt.VaultVersion, VaultFormatMin: crypt.MinVaultVersion, ObjectFormat: crypt.FormatVersion,
		HeadFormat: meta.HeadVersion, BatchFormat: meta.BatchVersion,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	return v
}

// versionText is the version as 'sealfs version' and 'sealfs --version'
// print it.
func versionText() string {
	var b strings.Builder
	v := buildVersion()
	w := &b
	rev := ""
	if v.Revision != "" {
		rev = ", commit " + v.Revision[:min(12, len(v.Revision))]
		if v.Modified {
			rev += " (modified)"
		}
	}
	fmt.Fprintf(w, "sealfs %s (%s %s%s)\n", v.Version, v.Go, v.Platform, rev)
	fmt.Fprintf(w, "formats: vault.json %d (opens %d to %d), objects %d, head %d, journal %d\n",
		v.VaultFormat, v.VaultFormatMin, v.VaultFormat, v.ObjectFormat, v.HeadFormat, v.BatchFormat)
	return b.String()
}

func (a *app) versionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print sealfs's version and the format versions it writes",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(buildVersion())
			}
			_, err := io.WriteString(a.stdout, versionText())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object (version, revision, modified, go, platform, vault_format, vault_format_min, object_format, head_format, batch_format)")
	return cmd
}

func (a *app) completionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `completion prints the completion script for a shell. To load it:

  bash:  source <(sealfs completion bash)
         (for every session: sealfs completion bash > /etc/bash_completion.d/sealfs)
  zsh:   sealfs completion zsh > "${fpath[1]}/_sealfs"   (then start a new shell)
  fish:  sealfs completion fish > ~/.config/fish/completions/sealfs.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("completion needs one shell: bash, zsh or fish (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			case "fish":
				return root.GenFishCompletion(a.stdout, true)
			}
			return usageErr("completion: unknown shell %q: use bash, zsh or fish", args[0])
		},
	}
}
