package s3test

import "syscall"

// minioProcAttr: its own process group for a clean kill, and SIGKILL if
// the test binary dies without calling Stop.
func minioProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
