//go:build !linux

package localstate

import "os"

// datasync makes f's data durable (fsync(2) where there is no fdatasync).
func datasync(f *os.File) error { return f.Sync() }
