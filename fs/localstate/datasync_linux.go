package localstate

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync makes f's data durable (fdatasync(2)): a write into blocks the
// file already has, at an unchanged size, needs no metadata flushed.
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
