package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/sealfs/sealfs/crypt"
)

// The environment variables that carry secrets. A --daemon child is
// started without them (withoutSecrets): /proc/PID/environ shows a
// process's initial environment for as long as it runs, so unsetting them
// in the child would be too late.
const (
	envPassphrase    = "SEALFS_PASSPHRASE"
	envNewPassphrase = "SEALFS_NEW_PASSPHRASE"
	envRecoveryKey   = "SEALFS_RECOVERY_KEY"
)

var secretEnv = []string{envPassphrase, envNewPassphrase, envRecoveryKey}

// minPassphraseLen is the shortest passphrase init and passwd accept. The
// KDF slows guessing down; it cannot make "1234" safe.
const minPassphraseLen = 8

// readSecretFile reads a one-line secret file, dropping one trailing newline.
func readSecretFile(path, what string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s file: %w", what, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s file %s is empty", what, path)
	}
	return b, nil
}

// promptSecret asks on the controlling terminal without echo.
func promptSecret(prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, errNoTerminal
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading passphrase from terminal: %w", err)
	}
	return b, nil
}

var errNoTerminal = errors.New("no terminal to ask for it")

// passphrase returns the current passphrase from --passphrase-file,
// SEALFS_PASSPHRASE or a prompt, in that order.
func (a *app) passphrase() ([]byte, error) {
	if a.passphraseFile != "" {
		return readSecretFile(a.passphraseFile, "passphrase")
	}
	if p, ok := os.LookupEnv(envPassphrase); ok && p != "" {
		return []byte(p), nil
	}
	p, err := promptSecret("Passphrase: ")
	if errors.Is(err, errNoTerminal) {
		return nil, withCode(exitUsage, errors.New("no passphrase given"),
			"set "+envPassphrase+", use --passphrase-file FILE, or run on a terminal")
	}
	return p, err
}

// newPassphrase returns a passphrase being set: from file (given with --flag), the
// environment variable env, or a prompt asked twice. It enforces the minimum.
func (a *app) newPassphrase(file, flag, env string) ([]byte, error) {
	var p []byte
	var err error
	switch v, ok := os.LookupEnv(env); {
	case file != "":
		p, err = readSecretFile(file, "passphrase")
	case ok && v != "":
		p = []byte(v)
	default:
		p, err = promptSecret("New passphrase: ")
		if errors.Is(err, errNoTerminal) {
			return nil, withCode(exitUsage, errors.New("no new passphrase given"),
				"set "+env+", use --"+flag+" FILE, or run on a terminal")
		}
		if err == nil {
			var again []byte
			if again, err = promptSecret("Repeat passphrase: "); err == nil && !bytes.Equal(p, again) {
				return nil, errors.New("the two passphrases differ: nothing was changed")
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if len(p) < minPassphraseLen {
		return nil, withCode(exitUsage, fmt.Errorf("passphrase too short (%d bytes)", len(p)),
			fmt.Sprintf("use at least %d characters; several random words are best", minPassphraseLen))
	}
	return p, nil
}

// recoveryKey returns the recovery key if one was given (file or
// SEALFS_RECOVERY_KEY), and whether one was.
func (a *app) recoveryKey() (crypt.RecoveryKey, bool, error) {
	var s string
	switch v, ok := os.LookupEnv(envRecoveryKey); {
	case a.recoveryKeyFile != "":
		b, err := readSecretFile(a.recoveryKeyFile, "recovery key")
		if err != nil {
			return crypt.RecoveryKey{}, true, err
		}
		s = string(b)
	case ok && v != "":
		s = v
	default:
		return crypt.RecoveryKey{}, false, nil
	}
	rk, err := crypt.ParseRecoveryKey(s)
	if err != nil {
		return rk, true, withCode(exitWrongKey, fmt.Errorf("recovery key is malformed: %w", err),
			"it is 64 hex digits, as printed by 'sealfs init'")
	}
	return rk, true, nil
}
