package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// --daemon re-executes sealfs in a new session. The parent has already
// unlocked the vault (it may have prompted on the terminal); it hands the
// master key to the child through an inherited pipe (never argv or the
// environment, which other users can read), and waits on a second pipe until
// the child reports the mount ready or failed.

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
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
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
	_, werr := keyW.Write(u.master[:])
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

// unlockFromParent reads the master key the parent handed over.
func (a *app) unlockFromParent(ctx context.Context, s remote.Store) (*unlocked, error) {
	f := os.NewFile(daemonKeyFD, "sealfs-key")
	defer f.Close()
	var master crypt.Key
	if _, err := io.ReadFull(f, master[:]); err != nil {
		return nil, fmt.Errorf("daemon: reading key from parent: %w", err)
	}
	v, etag, err := readVault(ctx, s)
	if err != nil {
		return nil, err
	}
	return &unlocked{vault: v, master: master, keys: crypt.DeriveKeys(master, v.Suite(), v.ChunkSize()), etag: etag}, nil
}

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
