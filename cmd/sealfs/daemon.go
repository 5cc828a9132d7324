package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/vault"
)

// --daemon re-executes sealfs in a new session. The parent has already
// unlocked the vault (it may have prompted on the terminal) and verified
// vault.json's MAC; it hands the master key and that verified vault to the
// child through an inherited pipe (never argv, which every local user can
// read, nor the environment), starts it without the secret variables of
// its own environment, and waits on a second pipe until the child reports
// the mount ready or failed. The child never reads vault.json
// from the store again: a bucket serving an edited copy to a second read
// (another chunk size, say) would otherwise set the mount's parameters.

const daemonEnv = "SEALFS_DAEMON_CHILD"

// Inherited descriptors in the child (ExtraFiles start at fd 3).
const (
	daemonKeyFD   = 3
	daemonReadyFD = 4
)

func isDaemonChild() bool { return os.Getenv(daemonEnv) == "1" }

func (a *app) startDaemon(u *unlocked) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--daemon: cannot find own executable: %w", err)
	}
	keyR, keyW, err := os.Pipe()
	if err != nil {
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(withoutSecrets(os.Environ()), daemonEnv+"=1")
	cmd.ExtraFiles = []*os.File{keyR, readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if a.verbose {
		cmd.Stderr = a.stderr
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("--daemon: cannot start the mount process: %w", err)
	}
	keyR.Close()
	readyW.Close()
	werr := writeHandover(keyW, u)
	keyW.Close()
	if werr != nil {
		return fmt.Errorf("--daemon: handing over the key: %w", werr)
	}
	br := bufio.NewReader(readyR)
	var line string
	for {
		line, _ = br.ReadString('\n')
		line = strings.TrimSpace(line)
		note, ok := strings.CutPrefix(line, "note ")
		if !ok {
			break
		}
		fmt.Fprintf(a.stderr, "sealfs: %s\n", note)
	}
	readyR.Close()
	if line == "ok" {
		_ = cmd.Process.Release()
		return nil
	}
	_ = cmd.Wait()
	if code, msg, ok := strings.Cut(line, " "); ok {
		n, _ := strconv.Atoi(code)
		return withCode(max(n, exitError), errors.New(msg), "")
	}
	return errors.New("the mount process exited during start-up (run without --daemon, or with --verbose, to see why)")
}

// withoutSecrets returns env without the variables that carry secrets.
// The child gets the key through the pipe; its arguments are the parent's,
// and no flag takes a secret (only the names of files holding one).
func withoutSecrets(env []string) []string {
	kept := make([]string, 0, len(env))
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); !slices.Contains(secretEnv, name) {
			kept = append(kept, kv)
		}
	}
	return kept
}

// unlockFromParent reads what the parent handed over.
func (a *app) unlockFromParent() (*unlocked, error) {
	f := os.NewFile(daemonKeyFD, "sealfs-key")
	defer f.Close()
	u, err := readHandover(f)
	if err != nil {
		return nil, err
	}
	lockKeys(u, a.logger)
	return u, nil
}

// writeHandover sends the master key and the verified vault: 32 bytes of
// key, a 4-byte big-endian length, then vault.json as Marshal writes it.
func writeHandover(w io.Writer, u *unlocked) error {
	vj, err := u.Vault.Marshal()
	if err != nil {
		return err
	}
	msg := make([]byte, 0, len(u.Master)+4+len(vj))
	msg = append(msg, u.Master[:]...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(vj)))
	msg = append(msg, vj...)
	_, err = w.Write(msg)
	clear(msg)
	return err
}

// readHandover reads what writeHandover sent and checks the vault's MAC
// with the key again (the pipe is ours, but a vault whose parameters are
// not authenticated must never set up a mount).
func readHandover(r io.Reader) (*unlocked, error) {
	var master crypt.Key
	var n [4]byte
	if _, err := io.ReadFull(r, master[:]); err != nil {
		return nil, fmt.Errorf("daemon: reading the key from the parent: %w", err)
	}
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("daemon: reading the vault from the parent: %w", err)
	}
	if l := binary.BigEndian.Uint32(n[:]); l > maxVaultSize {
		return nil, fmt.Errorf("daemon: the parent handed over a %d-byte vault", l)
	}
	vj := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(r, vj); err != nil {
		return nil, fmt.Errorf("daemon: reading the vault from the parent: %w", err)
	}
	v, err := crypt.ParseVault(vj)
	if err != nil {
		return nil, fmt.Errorf("daemon: the vault handed over: %w", err)
	}
	return vault.UnlockMaster(v, master)
}

// maxVaultSize bounds vault.json (crypt refuses larger ones too).
const maxVaultSize = 64 << 10

var (
	readyOnce sync.Once
	readyMu   sync.Mutex
	readyFile *os.File // the child's end of the ready pipe, until ready
)

func readyPipe() *os.File {
	if readyFile == nil {
		readyFile = os.NewFile(daemonReadyFD, "sealfs-ready")
	}
	return readyFile
}

// daemonReady tells a waiting parent how start-up went, once; a no-op in a
// foreground mount.
func daemonReady(err error) {
	if isDaemonChild() {
		readyOnce.Do(func() { reportReady(err) })
	}
}

// notice tells the user something they must know about this mount (one
// line): on stderr in the foreground; a daemon passes it to its parent,
// which prints it before returning (the daemon itself has no terminal).
func (a *app) notice(msg string) {
	msg = strings.ReplaceAll(msg, "\n", " ")
	if !isDaemonChild() {
		fmt.Fprintf(a.stderr, "sealfs: %s\n", msg)
		return
	}
	readyMu.Lock()
	defer readyMu.Unlock()
	if f := readyPipe(); f != nil {
		fmt.Fprintf(f, "note %s\n", msg)
	}
}

func reportReady(err error) {
	readyMu.Lock()
	defer readyMu.Unlock()
	f := readyPipe()
	if f == nil {
		return
	}
	defer f.Close()
	if err == nil {
		fmt.Fprintln(f, "ok")
		return
	}
	fmt.Fprintf(f, "%d %s\n", exitCode(err), strings.ReplaceAll(err.Error(), "\n", " "))
}
