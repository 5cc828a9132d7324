//go:build !linux

package s3test

import "syscall"

// minioProcAttr: its own process group for a clean kill. Without Linux's
// parent-death signal, a MinIO whose test binary was killed hard outlives
// it (CI runs on Linux, where .ci/run checks that none is left).
func minioProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
