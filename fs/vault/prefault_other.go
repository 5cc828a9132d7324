//go:build !linux

package vault

// prefault does nothing where madvise(MADV_POPULATE_WRITE) does not exist.
func prefault([]byte) {}
