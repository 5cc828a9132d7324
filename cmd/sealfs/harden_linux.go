package main

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// notDumpable keeps this process's memory (keys; plaintext in buffers and
// in the page cache's copies it reads) out of core files and away from
// other processes of the same user: with PR_SET_DUMPABLE 0 the kernel
// writes no core dump, refuses ptrace to anyone without CAP_SYS_PTRACE,
// and gives /proc/PID/mem, environ, maps and the like to root. Every
// command holds keys or is about to, so every command sets it; execve
// resets it, so a --daemon child sets it again. A failure is only logged:
// the flag hardens, nothing depends on it.
func notDumpable(log *slog.Logger) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		log.Warn("cannot make this process non-dumpable: a crash may leave a core file with keys", "err", err)
	}
}
