package main

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/fs/vault"
)

// app holds what every subcommand shares: the global flags and the streams.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	logger         *slog.Logger

	verbose         bool
	s3Endpoint      string
	insecureHTTP    bool
	caCert          string
	passphraseFile  string
	recoveryKeyFile string
}

// run is the whole program: it parses args, runs one command and returns the
// exit code. main stays thin so tests can call run directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if strings.HasPrefix(err.Error(), "unknown command") {
		err = usageErr("%v", err)
	}
	printError(stderr, err)
	return exitCode(err)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sealfs",
		Short: "An encrypted, tamper-evident FUSE filesystem for chat backups",
		Long: `sealfs mounts a folder whose contents are stored only as ciphertext in an
S3-compatible bucket or a local directory. File contents, names, sizes and the
directory structure are sealed with keys that only your passphrase or your
64-digit recovery key unlocks; any tampering with the stored objects is
detected.

STORE is a local directory path (the embedded default, no server needed) or
s3://BUCKET[/PREFIX] (endpoint from --s3-endpoint or AWS_ENDPOINT_URL,
credentials from the standard AWS chain: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, ~/.aws/credentials with AWS_PROFILE, or IAM).

The passphrase comes from SEALFS_PASSPHRASE, --passphrase-file, or a prompt on
the terminal; the recovery key from --recovery-key-file or SEALFS_RECOVERY_KEY.

Exit codes: 0 ok, 1 error, 2 usage, 10 wrong passphrase or recovery key,
11 the vault is held by another device, 12 damage found (check, restore,
cat), 13 the final commit failed and the changes stay sealed on this device
(mount again to finish).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			a.logger = newLogger(a.stderr, a.verbose)
			notDumpable(a.logger)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	pf := root.PersistentFlags()
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log diagnostics to stderr, with the paths of the files they concern")
	pf.StringVar(&a.s3Endpoint, "s3-endpoint", "", "S3 endpoint URL (default: $AWS_ENDPOINT_URL, else AWS)")
	pf.BoolVar(&a.insecureHTTP, "s3-insecure", false, "allow plain http to a non-loopback S3 endpoint (unsafe)")
	pf.StringVar(&a.caCert, "s3-ca-cert", "", "PEM file of extra CA certificates for the S3 endpoint")
	pf.StringVar(&a.passphraseFile, "passphrase-file", "", "read the passphrase from this file")
	pf.StringVar(&a.recoveryKeyFile, "recovery-key-file", "", "unlock with the recovery key in this file instead of the passphrase")

	root.AddCommand(a.initCommand(), a.mountCommand(), a.umountCommand(),
		a.passwdCommand(), a.infoCommand(),
		a.snapshotCommand(), a.snapshotsCommand(), a.forgetCommand(), a.pruneCommand(), a.checkCommand())
	root.AddCommand(a.restoreCommand(), a.lsCommand(), a.catCommand(), a.versionCommand(), a.completionCommand())
	root.Version = buildVersion().Version // --version
	root.SetVersionTemplate(versionText())
	root.InitDefaultVersionFlag()
	root.Flags().Lookup("version").Usage = "print the version (as 'sealfs version')"
	return root
}

// newLogger is the CLI's log on w: warnings and errors, and without
// verbose no plaintext: a mount's log often ends up in a file or the
// journal, so the attributes that carry paths inside the vault
// (vault.PlaintextLogKey) are replaced by hiddenPath. verbose logs
// everything, paths included.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: hidePlaintext}
	if verbose {
		opts = &slog.HandlerOptions{Level: slog.LevelDebug}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// hiddenPath stands for a path in a log without --verbose.
const hiddenPath = "(hidden; --verbose shows it)"

func hidePlaintext(_ []string, a slog.Attr) slog.Attr {
	if vault.PlaintextLogKey(a.Key) {
		a.Value = slog.StringValue(hiddenPath)
	}
	return a
}

// exactArgs is cobra.ExactArgs with our usage error (exit 2).
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s needs %s (got %d arguments)", cmd.Name(), names, len(args))
		}
		return nil
	}
}
