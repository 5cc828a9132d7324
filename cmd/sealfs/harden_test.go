package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// TestMountProcess: a --daemon mount hardens itself.
//
// not dumpable: no core file, no ptrace or /proc/PID/mem for the same
// user. The kernel shows a non-dumpable process's /proc/PID files as
// root's: the mount runs as root with primary group nobody, so its /proc
// files have group nobody while it is dumpable and group root once it is
// not.
//
// keys locked: it holds locked memory (VmLck), which only lockKeys asks for.
func TestMountProcess(t *testing.T) {
	requireRootFUSE(t)
	p := newSealfsProc(t)
	const passphrase = "the passphrase of the dump test"
	store, _ := p.initVault(passphrase)
	p.cred = &syscall.Credential{Uid: 0, Gid: nobody}
	mnt := p.mountDaemon(store, map[string]string{envPassphrase: passphrase}, "--cache-dir", t.TempDir())
	pid := servingPID(t, mnt)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), fmt.Sprintf("\nGid:\t%d\t", nobody)) {
		t.Fatalf("the mount does not run with group %d:\n%s", nobody, status)
	}
	t.Run("not dumpable", func(t *testing.T) {
		for _, f := range []string{"environ", "mem", "status"} {
			var st syscall.Stat_t
			if err := syscall.Stat(fmt.Sprintf("/proc/%d/%s", pid, f), &st); err != nil {
				t.Fatal(err)
			}
			if st.Gid != 0 {
				t.Errorf("/proc/%d/%s has group %d: the mount is dumpable", pid, f, st.Gid)
			}
		}
	})
	t.Run("keys locked", func(t *testing.T) {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmLck:"); ok && strings.TrimSpace(v) == "0 kB" {
				t.Errorf("the mount has no locked memory (%s)", line)
			}
		}
	})
	p.run(nil, "umount", mnt)
}

// TestKeysAreLocked: the pages under the master key and the subkeys of an
// unlocked or a new vault are locked in memory (their own mapping in
// /proc/self/smaps, flag "lo": mlock splits the mapping).
func TestKeysAreLocked(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil || os.Geteuid() != 0 && lim.Cur < 1<<20 {
		t.Skipf("RLIMIT_MEMLOCK %d leaves no room to lock (err %v)", lim.Cur, err)
	}
	ctx := context.Background()
	t.Setenv(envPassphrase, "a good passphrase")
	a := &app{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	s := remote.NewMemory()
	o := initOptions{kdfMemory: crypt.MinKDF.MemoryMiB, kdfTime: crypt.MinKDF.Time, kdfThreads: 1, cipher: "aes-gcm"}
	created, err := a.initVault(ctx, s, o)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := a.unlock(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]*unlocked{"init": created, "unlock": opened} {
		for what, b := range map[string][]byte{"master key": u.Master[:], "subkeys": keysMemory(u.Keys)} {
			for _, p := range []*byte{&b[0], &b[len(b)-1]} {
				if locked, err := lockedAt(uintptr(unsafe.Pointer(p))); err != nil || !locked {
					t.Errorf("%s: the %s at %p is not locked (%v)", name, what, p, err)
				}
			}
		}
	}
}

// lockedAt reports whether the mapping holding addr is locked.
func lockedAt(addr uintptr) (bool, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if r, _, ok := strings.Cut(line, " "); ok && strings.Contains(r, "-") && !strings.HasSuffix(r, ":") {
			lo, hi, _ := strings.Cut(r, "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= start && uint64(addr) < end
			continue
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return slices.Contains(strings.Fields(flags), "lo"), nil
		}
	}
	return false, fmt.Errorf("no mapping holds %#x", addr)
}

// TestCommandsAreNotDumpable: every command makes the process
// non-dumpable before it does anything (here: before it fails on a store
// that cannot exist).
func TestCommandsAreNotDumpable(t *testing.T) {
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0) })
	args := map[string][]string{
		"init": {"/dev/null/store"}, "mount": {"/dev/null/store", "/dev/null/mnt"}, "umount": {"/dev/null/mnt"},
		"passwd": {"/dev/null/store"}, "info": {"/dev/null/store"}, "snapshot": {"/dev/null/store"},
		"snapshots": {"/dev/null/store"}, "forget": {"/dev/null/store", "0123abcd"}, "prune": {"/dev/null/store"},
		"check": {"/dev/null/store"}, "restore": {"/dev/null/store", "/dev/null/dest"}, "ls": {"/dev/null/store"},
		"cat": {"/dev/null/store", "f"}, "version": {}, "completion": {"bash"},
	}
	for _, c := range (&app{}).rootCommand().Commands() {
		t.Run(c.Name(), func(t *testing.T) {
			a, ok := args[c.Name()]
			if !ok {
				t.Fatalf("command %s is not in this test's table", c.Name())
			}
			if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), slices.Concat([]string{c.Name()}, a), strings.NewReader(""), &bytes.Buffer{}, &stderr)
			if code == exitUsage {
				t.Fatalf("usage error, the command did not start: %s", stderr.String())
			}
			if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
				t.Errorf("after 'sealfs %s': dumpable = %d (%v), want 0", c.Name(), d, err)
			}
		})
	}
}
