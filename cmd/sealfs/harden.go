package main

import (
	"log/slog"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/crypt"
)

// lockKeys asks the kernel to keep the pages under u's master key and
// subkeys in RAM, never in swap. Go's collector does not move heap
// objects, so the lock holds for their life. Best effort: mlock needs
// room under RLIMIT_MEMLOCK (8 MiB on most systems; CAP_IPC_LOCK lifts
// it), and a refusal is logged at debug level. Not locked (SECURITY.md,
// "On this machine"): copies of the Local subkey in fs's staging and state,
// the per-object keys derived for each object, cipher key schedules,
// Argon2's memory, the passphrase buffer, stacks and registers.
func lockKeys(u *unlocked, log *slog.Logger) {
	for _, b := range [][]byte{u.Master[:], keysMemory(u.Keys)} {
		if err := unix.Mlock(b); err != nil {
			if log != nil {
				log.Debug("cannot lock the keys in memory; they may reach swap", "err", err)
			}
			return
		}
	}
}

// keysMemory is the memory of *k, as bytes.
func keysMemory(k *crypt.Keys) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(k)), unsafe.Sizeof(*k))
}
