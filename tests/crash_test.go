package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashIterations is how many times TestCrashLoop kills the mount: 30 in
// CI, SEALFS_CRASH_ITERATIONS for a longer local run.
func crashIterations(t *testing.T) int {
	if s := os.Getenv("SEALFS_CRASH_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SEALFS_CRASH_ITERATIONS: %v", err)
		}
		return n
	}
	return 30
}

// crashFiles are the names the random writer rewrites.
var crashFiles = []string{"msgstore.db", "wa.db", "media/IMG-0001.jpg", "media/IMG-0002.jpg", "backup/settings.json", "notes.txt"}

// crashSizes cross the segment (64 KiB) and chunk (4 MiB) boundaries.
var crashSizes = []int{0, 1, 100, 65536, 65537, 300000, 1 << 20, 4<<20 + 17, 9 << 20}

// crashModel records every version the writer started to write of each
// file (by hash) and the newest version whose fsync succeeded.
type crashModel struct {
	mu       sync.Mutex
	versions map[string][][32]byte
	synced   map[string]int // index into versions; absent = never fsynced
}

func (m *crashModel) start(name string, data []byte) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versions[name] = append(m.versions[name], sha256.Sum256(data))
	return len(m.versions[name]) - 1
}

func (m *crashModel) fsynced(name string, v int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.synced[name]; !ok || v > old {
		m.synced[name] = v
	}
}

// crashContent is size random bytes for name and nonce v.
func crashContent(name string, v uint64, size int) []byte {
	seed := sha256.Sum256([]byte(fmt.Sprintf("%s#%d", name, v)))
	return pseudoRandom(binary.LittleEndian.Uint64(seed[:]), size)
}

// crashWriter rewrites random files until stop, in place (O_TRUNC) or by
// the temp-file-and-rename dance, fsyncing about half of the versions
// (the file, or the directory after a rename). fsyncing is signalled
// right before each fsync so the killer can strike during a commit.
type crashWriter struct {
	mnt      string
	m        *crashModel
	rnd      *rand.Rand
	fsyncing chan<- struct{}
	err      error // why run stopped, if not by stop
}

func (w *crashWriter) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if err := w.step(); err != nil {
			w.err = err // the mount died under us, or a bug if it was not killed yet
			return
		}
	}
}

func (w *crashWriter) step() error {
	name := crashFiles[w.rnd.IntN(len(crashFiles))]
	data := crashContent(name, w.rnd.Uint64(), crashSizes[w.rnd.IntN(len(crashSizes))])
	v := w.m.start(name, data)
	p := filepath.Join(w.mnt, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	sync := w.rnd.IntN(2) == 0
	if w.rnd.IntN(3) == 0 {
		return w.replace(p, name, v, data, sync)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writeChunks(f, data, w.rnd); err != nil {
		return err
	}
	if sync {
		w.signal()
		if err := f.Sync(); err != nil {
			return err
		}
		w.m.fsynced(name, v)
	}
	return f.Close()
}

// replace writes a temporary file and renames it over p; with sync it
// then fsyncs the directory, which commits the rename.
func (w *crashWriter) replace(p, name string, v int, data []byte, sync bool) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := writeChunks(f, data, w.rnd); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	w.signal()
	if err := d.Sync(); err != nil {
		return err
	}
	w.m.fsynced(name, v)
	return nil
}

func (w *crashWriter) signal() {
	select {
	case w.fsyncing <- struct{}{}:
	default:
	}
}

// writeChunks writes data in random pieces, as an app would.
func writeChunks(f *os.File, data []byte, rnd *rand.Rand) error {
	for len(data) > 0 {
		n := min(len(data), 1+rnd.IntN(2<<20))
		if _, err := f.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// mountPID finds the mount process serving mnt (the daemon child) in /proc.
func mountPID(t *testing.T, mnt string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(cmd, "\x00")), "\x00")
		if len(args) > 1 && args[0] == sealfsBin && slices.Contains(args, "mount") && args[len(args)-1] == mnt {
			return pid
		}
	}
	t.Fatalf("no sealfs process serves %s", mnt)
	return 0
}

// kill9 SIGKILLs pid and waits until it is gone.
func kill9(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	waitFor(t, fmt.Sprintf("process %d to die of SIGKILL", pid), func() bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(st), ") Z ")
	})
}

// detach lazily unmounts a dead FUSE mount, once nothing writes into it:
// afterwards the directory is the plain one underneath again.
func detach(t *testing.T, mnt string) {
	t.Helper()
	if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil && isMounted(mnt) {
		t.Fatalf("umount -l %s: %v: %s", mnt, err, out)
	}
}

// verify checks every file against the model: its content is a version
// the writer wrote (never a mix), and not older than the last one fsynced.
func (m *crashModel) verify(t *testing.T, mnt string, iter int) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range crashFiles {
		for _, p := range []string{name, name + ".tmp"} {
			data, err := os.ReadFile(filepath.Join(mnt, p))
			synced, wasSynced := m.synced[name]
			switch {
			case errors.Is(err, os.ErrNotExist) && (p != name || !wasSynced):
				continue
			case err != nil:
				t.Fatalf("iteration %d: %s: %v (fsynced version %d)", iter, p, err, synced)
			case len(data) == 0 && (p != name || !wasSynced):
				// Created (a commit took the new name) but never
				// written: the state creat(2) leaves, not a torn one.
				// A rewrite in place (O_TRUNC) is never seen empty: its
				// truncation is published with its new content.
				continue
			}
			// The newest matching version: equal contents (empty files)
			// appear under several versions.
			idx := lastIndex(m.versions[name], sha256.Sum256(data))
			if idx < 0 {
				t.Fatalf("iteration %d: %s (%d bytes) is torn: no version the writer wrote", iter, p, len(data))
			}
			if p == name && wasSynced && idx < synced {
				t.Fatalf("iteration %d: %s is version %d, older than version %d that was fsynced", iter, p, idx, synced)
			}
		}
	}
}

func lastIndex(s [][32]byte, h [32]byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == h {
			return i
		}
	}
	return -1
}

// TestCrashLoop: mount, write and fsync at random, SIGKILL the mount
// process at a random moment (half the time right after an fsync
// started, in the middle of its commit), detach the dead mount, remount
// on the same device and check that every fsynced file is intact, that no
// file is torn, and that `sealfs check` finds no damage.
func TestCrashLoop(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	st := s3Store(t)
	dev := newDevice(t, "phone", st.env)
	out := dev.ok([]string{"SEALFS_PASSPHRASE=crash loop passphrase"}, append(append([]string{"init"}, fastKDF...), st.location)...)
	// The mounts and checks unlock with the recovery key: the passphrase's
	// Argon2 costs 0.4 s of CPU a run (36 runs), and what the loop checks
	// comes after the unlock.
	unlock := []string{"SEALFS_RECOVERY_KEY=" + parseRecoveryKey(t, out.stdout)}
	m := &crashModel{versions: map[string][][32]byte{}, synced: map[string]int{}}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	flags := []string{"--commit-interval", "200ms", "--device", "phone"}
	mnt := dev.mount(unlock, st.location, flags...)
	n := crashIterations(t)
	start := time.Now()
	for iter := range n {
		m.verify(t, mnt, iter)
		if iter%5 == 4 {
			if r := dev.run(unlock, "check", st.location); r.code != 0 {
				t.Fatalf("iteration %d: sealfs check: %s", iter, r)
			}
		}
		pid := mountPID(t, mnt)
		fsyncing := make(chan struct{}, 1)
		stop := make(chan struct{})
		w := &crashWriter{mnt: mnt, m: m, rnd: rand.New(rand.NewPCG(rnd.Uint64(), 2)), fsyncing: fsyncing}
		done := make(chan struct{})
		go func() { defer close(done); w.run(stop) }()
		if rnd.IntN(2) == 0 {
			time.Sleep(time.Duration(50+rnd.IntN(1500)) * time.Millisecond)
		} else {
			select { // an fsync just started: its commit is in flight
			case <-fsyncing:
				time.Sleep(time.Duration(rnd.IntN(30)) * time.Millisecond)
			case <-done:
				t.Fatalf("iteration %d: the writer failed before the kill: %v", iter, w.err)
			case <-time.After(time.Minute):
				t.Fatalf("iteration %d: no fsync within a minute", iter)
			}
		}
		select {
		case <-done:
			// Only the kill may stop the writer: a file left behind
			// by a failed write or fsync would look torn below.
			t.Fatalf("iteration %d: the writer failed before the kill: %v", iter, w.err)
		default:
		}
		kill9(t, pid)
		close(stop)
		<-done // its calls fail with ENOTCONN now
		detach(t, mnt)
		dev.ok(unlock, append([]string{"mount", "--daemon"}, append(flags, st.location, mnt)...)...)
	}
	m.verify(t, mnt, n)
	dev.ok(nil, "umount", mnt)
	if r := dev.run(unlock, "check", st.location); r.code != 0 {
		t.Fatalf("sealfs check after %d crashes: %s", n, r)
	}
	synced := 0
	for _, v := range m.synced {
		synced += v + 1
	}
	t.Logf("%d crashes in %v; %d files, %d versions fsynced at least", n, time.Since(start).Round(time.Second), len(m.versions), synced)
}
