package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests that need a real sealfs process (a --daemon mount, whose /proc
// files they read) run this test binary as sealfs: with asSealfsEnv set,
// TestMain runs main instead of the tests. A daemon re-executes
// os.Executable(), which is this binary, and inherits the variable.
const asSealfsEnv = "SEALFS_TEST_AS_SEALFS"

func TestMain(m *testing.M) {
	if os.Getenv(asSealfsEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// sealfsProc runs sealfs commands as separate processes, each with only the
// environment given (plus PATH and a private HOME).
type sealfsProc struct {
	t    *testing.T
	env  map[string]string
	cred *syscall.Credential // nil: the test's own
}

func newSealfsProc(t *testing.T) *sealfsProc {
	home := t.TempDir()
	return &sealfsProc{t: t, env: map[string]string{
		asSealfsEnv:      "1",
		"PATH":           os.Getenv("PATH"),
		"HOME":           home,
		"XDG_CACHE_HOME": filepath.Join(home, ".cache"),
	}}
}

// command builds sealfs args with p's environment and extra (a value of ""
// leaves the variable out).
func (p *sealfsProc) command(extra map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	for k, v := range p.env {
		if _, over := extra[k]; !over {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range extra {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	return cmd
}

// run runs sealfs args to the end and returns stdout, failing the test on a
// non-zero exit.
func (p *sealfsProc) run(extra map[string]string, args ...string) string {
	p.t.Helper()
	cmd := p.command(extra, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("sealfs %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// initVault creates a vault with the cheapest KDF in a new directory store
// and returns the store and its recovery key as printed.
func (p *sealfsProc) initVault(passphrase string) (store, recoveryKey string) {
	p.t.Helper()
	store = filepath.Join(p.t.TempDir(), "store")
	out := p.run(map[string]string{envPassphrase: passphrase}, "init", "--kdf-memory", "64", "--kdf-time", "2", store)
	for _, line := range strings.Split(out, "\n") {
		if l := strings.TrimSpace(line); len(l) == 79 && strings.Count(l, "-") == 15 {
			return store, l
		}
	}
	p.t.Fatalf("no recovery key in the output of init:\n%s", out)
	return "", ""
}

// mountDaemon mounts store at a new directory with --daemon and returns the
// mount point; Cleanup unmounts it if the test did not.
func (p *sealfsProc) mountDaemon(store string, extra map[string]string, args ...string) string {
	p.t.Helper()
	mnt := p.t.TempDir()
	p.run(extra, append(append([]string{"mount", "--daemon"}, args...), store, mnt)...)
	p.t.Cleanup(func() {
		if _, mounted := mountedFSType(mnt); mounted {
			_ = p.command(nil, "umount", mnt).Run()
		}
		if _, mounted := mountedFSType(mnt); mounted {
			_ = unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	return mnt
}

// servingPID returns the pid of the process serving the mount at mnt: the
// peer of its control socket.
func servingPID(t *testing.T, mnt string) int {
	t.Helper()
	conn, err := net.DialTimeout("unix", controlPath(runtimeDir(), mnt), 5*time.Second)
	if err != nil {
		t.Fatalf("control socket of %s: %v", mnt, err)
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		t.Fatalf("SO_PEERCRED: %v %v", err, cerr)
	}
	return int(cred.Pid)
}

// requireRootFUSE skips (or with SEALFS_STRICT=1 fails) a test that mounts
// and reads another process's /proc files: it needs root and /dev/fuse.
func requireRootFUSE(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (a FUSE mount, and the /proc files of a non-dumpable process)"
	} else if f, err := os.OpenFile(fuseDevice, os.O_RDWR, 0); err != nil {
		why = "FUSE unavailable: " + err.Error()
	} else {
		f.Close()
		return
	}
	if os.Getenv("SEALFS_STRICT") == "1" {
		t.Fatalf("SEALFS_STRICT=1 forbids skipping: %s", why)
	}
	t.Skip(why)
}
