package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

// benchPassphrase unlocks the throw-away vaults of a run.
const benchPassphrase = "sealfs benchmark passphrase, not a secret"

// device is one simulated machine using one bucket: its own HOME and cache,
// as a user's laptop would have. It mounts either the real binary (like a
// user) or, with --profile, fs.Mount inside this process.
type device struct {
	e      *env
	store  string // s3://bucket/p
	home   string
	inproc bool
	memory int // --memory-budget in MiB of its read-write mounts (0 = default)
}

func (e *env) newDevice(ctx context.Context) (*device, error) {
	bucket, err := e.newBucket(ctx)
	if err != nil {
		return nil, err
	}
	home, err := e.tempDir("home-")
	if err != nil {
		return nil, err
	}
	d := &device{e: e, store: "s3://" + bucket + "/p", home: home, inproc: e.cfg.ProfileDir != ""}
	// Minimum Argon2id cost: the KDF is not what is measured.
	if _, err := d.run(ctx, "init", "--kdf-memory", "64", "--kdf-time", "2", "--kdf-threads", "1", d.store); err != nil {
		return nil, err
	}
	return d, nil
}

// run runs the sealfs binary as this device.
func (d *device) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.e.bin, args...)
	cmd.Env = d.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("sealfs %s: %v: %s", args[0], err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// mounted is one live mount.
type mounted struct {
	Dir     string
	umount  func() error
	rss     *rssWatch // nil in-process
	PeakRSS int64     // VmHWM of the mount process in bytes, set by Unmount; 0 if unknown
	// CPU is the CPU time of the mount process from the first call of
	// cpuSoFar to its exit (the last value polled before it), set by
	// Unmount; 0 if unknown.
	CPU time.Duration
}

// cpuSoFar is the CPU time the mount process has used since mounting;
// the first call sets the start of the mount's CPU figure.
func (m *mounted) cpuSoFar() (time.Duration, bool) {
	if m.rss == nil {
		return 0, false
	}
	return m.rss.cpuSince()
}

// Unmount unmounts and returns once everything is committed (for the
// binary: once "sealfs umount" returns).
func (m *mounted) Unmount() error {
	err := m.umount()
	if m.rss != nil {
		m.PeakRSS = m.rss.stop()
		m.CPU, _ = m.rss.cpuSince()
	}
	return err
}

// mount mounts the device's store at a fresh mountpoint.
// A read-only mount is what a cold read on another device needs: no lease,
// no commits.
func (d *device) mount(ctx context.Context, readOnly bool) (*mounted, error) {
	dir, err := d.e.tempDir("mnt-")
	if err != nil {
		return nil, err
	}
	if d.inproc {
		return d.mountInProcess(ctx, dir, readOnly)
	}
	args := []string{"mount", "--daemon", "--device", "bench"}
	if readOnly {
		args = append(args, "--read-only")
	} else if d.memory > 0 {
		args = append(args, "--memory-budget", strconv.Itoa(d.memory))
	}
	if _, err := d.run(ctx, append(args, d.store, dir)...); err != nil {
		return nil, err
	}
	m := &mounted{Dir: dir, umount: func() error {
		_, err := d.run(context.WithoutCancel(ctx), "umount", dir)
		return err
	}}
	if pid := findMountProcess(d.e.bin, dir); pid > 0 {
		m.rss = watchRSS(pid)
	}
	return m, nil
}

// mountInProcess unlocks the vault the binary created and mounts it with
// fs.Mount, so that a CPU profile of this process covers the file system.
func (d *device) mountInProcess(ctx context.Context, dir string, readOnly bool) (*mounted, error) {
	bucket := strings.TrimSuffix(strings.TrimPrefix(d.store, "s3://"), "/p")
	s, err := remote.Open(ctx, "s3://"+bucket+"/p", remote.Options{
		Endpoint: d.e.proxy.URL, Region: "us-east-1",
		AccessKeyID: d.e.accessKey, SecretAccessKey: remote.Secret(d.e.secretKey),
	})
	if err != nil {
		return nil, err
	}
	keys, err := unlock(ctx, s)
	if err != nil {
		s.Close()
		return nil, err
	}
	if !readOnly { // as sealfs mount does: also sets the If-Match form (Ceph RGW)
		if err := remote.SelfTestConditional(ctx, s); err != nil {
			s.Close()
			return nil, err
		}
	}
	m, err := fs.Mount(ctx, dir, vault.Options{
		Store: s, Keys: keys, Device: "bench", ReadOnly: readOnly,
		CacheDir: filepath.Join(d.home, ".cache", "inproc"), MemoryBudget: int64(d.memory) << 20,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return &mounted{Dir: dir, umount: func() error {
		defer s.Close()
		return m.Unmount()
	}}, nil
}

func unlock(ctx context.Context, s remote.Store) (*crypt.Keys, error) {
	data, _, err := s.Get(ctx, "vault.json")
	if err != nil {
		return nil, fmt.Errorf("reading vault.json: %w", err)
	}
	v, err := crypt.ParseVault(data)
	if err != nil {
		return nil, err
	}
	master, err := v.UnlockPassphrase([]byte(benchPassphrase))
	if err != nil {
		return nil, err
	}
	return crypt.DeriveKeys(master, v.Suite(), v.ChunkSize()), nil
}

// findMountProcess finds the daemon child serving dir: the process running
// bin (a resolved path) whose command line is "... mount ... dir".
func findMountProcess(bin, dir string) int {
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		exe, _ := os.Readlink(filepath.Join("/proc", ent.Name(), "exe"))
		if len(args) > 2 && exe == bin && args[1] == "mount" && args[len(args)-1] == dir {
			return pid
		}
	}
	return 0
}

// rssWatch polls a process's VmHWM (its peak resident set) until stopped:
// the daemon exits at unmount, so the last value read is its peak, short
// of at most one polling interval at the very end.
//
// It also polls the process's CPU time (cpuSince), so that the CPU the
// daemon spends between the last poll and its exit is the only part lost.
type rssWatch struct {
	pid  int
	quit chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak int64

	cpu0, cpu  time.Duration // at the first cpuSince call; last polled
	cpuStarted bool
}

// cpuSince returns the CPU time used since its first call.
func (w *rssWatch) cpuSince() (time.Duration, bool) {
	if c, ok := cpuTime(w.pid); ok {
		w.mu.Lock()
		w.cpu = max(w.cpu, c)
		w.mu.Unlock()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.cpuStarted {
		w.cpu0, w.cpuStarted = w.cpu, true
	}
	return w.cpu - w.cpu0, w.cpu > 0
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{pid: pid, quit: make(chan struct{}), done: make(chan struct{})}
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(w.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := vmHWM(path); ok {
				w.mu.Lock()
				w.peak = max(w.peak, v)
				w.mu.Unlock()
			}
			if c, ok := cpuTime(pid); ok {
				w.mu.Lock()
				w.cpu = max(w.cpu, c)
				w.mu.Unlock()
			}
			select {
			case <-w.quit:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *rssWatch) stop() int64 {
	close(w.quit)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// vmHWM reads the "VmHWM:  1234 kB" line of a /proc/PID/status file.
func vmHWM(path string) (int64, bool) { return procStatus(path, "VmHWM:") }

// procStatus reads a "Name:  1234 kB" line of a /proc/PID/status file.
func procStatus(path, name string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err == nil
			}
		}
	}
	return 0, false
}

// sibling is another device (a fresh HOME and cache) on the same store:
// what a new phone restoring the backup is.
func (d *device) sibling() (*device, error) {
	home, err := d.e.tempDir("home-")
	if err != nil {
		return nil, err
	}
	return &device{e: d.e, store: d.store, home: home, inproc: d.inproc}, nil
}
