package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes are part of the CLI contract (README "Exit codes").
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitWrongKey  = 10 // wrong passphrase or recovery key
	exitLeaseHeld = 11 // the vault is held by another device
	exitDamage    = 12 // damage found: check, or a file restore/cat could not authenticate
	exitStaged    = 13 // the final commit failed; the changes stay sealed on this device
)

// cliError is an error with an exit code and, where there is one, the fix.
type cliError struct {
	code int
	err  error
	hint string
}

func (e *cliError) Error() string {
	if e.hint == "" {
		return e.err.Error()
	}
	return e.err.Error() + " (" + e.hint + ")"
}

func (e *cliError) Unwrap() error { return e.err }

// withCode attaches an exit code and a hint to err.
func withCode(code int, err error, hint string) error {
	if err == nil {
		return nil
	}
	return &cliError{code: code, err: err, hint: hint}
}

// usageErr is a command-line usage mistake (exit 2).
func usageErr(format string, a ...any) error {
	return &cliError{code: exitUsage, err: fmt.Errorf(format, a...), hint: "see 'sealfs --help'"}
}

// exitCode picks the exit code for err.
func exitCode(err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitError
}

// printError writes the one-line error message the user sees.
func printError(w io.Writer, err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(w, "sealfs: error: %s\n", msg)
}
