//go:build !linux

package main

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// notDumpable keeps this process's memory (keys, plaintext in buffers) out
// of core files: outside Linux there is no PR_SET_DUMPABLE, so it sets the
// core file size limit to zero (ptrace by the same user stays possible).
// A failure is only logged: the limit hardens, nothing depends on it.
func notDumpable(log *slog.Logger) {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		log.Warn("cannot disable core files: a crash may leave one with keys", "err", err)
	}
}
