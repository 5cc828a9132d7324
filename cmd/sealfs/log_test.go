package main

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/fs/vault"
)

// TestLogHidesPaths: without --verbose the CLI's log never prints a path
// inside the vault, however the attribute reaches the record (directly,
// through With, in a group, as a list); the other attributes stay. With
// --verbose the paths show.
func TestLogHidesPaths(t *testing.T) {
	secrets := []string{"secret-dir/direct", "secret-with", "secret-in-group", "secret-list-1", "secret-list-2"}
	for _, verbose := range []bool{false, true} {
		var buf bytes.Buffer
		log := newLogger(&buf, verbose)
		log.Error("cannot read file data", vault.LogPath, secrets[0], "object", "0123abcd")
		log.With(vault.LogPath, secrets[1]).Warn("with")
		log.WithGroup("g").Error("grouped", slog.Group("file", slog.String(vault.LogPath, secrets[2])))
		log.Error("listed", vault.LogPaths, secrets[3:5])
		out := buf.String()
		if !strings.Contains(out, "object=0123abcd") {
			t.Errorf("verbose=%v: the object id is missing:\n%s", verbose, out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) != verbose {
				t.Errorf("verbose=%v: %q shown = %v:\n%s", verbose, s, !verbose, out)
			}
		}
		if n := strings.Count(out, hiddenPath); !verbose && n != 4 {
			t.Errorf("%d paths hidden, want 4:\n%s", n, out)
		}
	}
}

// TestIntegrityLogHidesPath: a real mount that finds a damaged object logs
// it once with the object id; the file's path shows only with --verbose.
func TestIntegrityLogHidesPath(t *testing.T) {
	requireRootFUSE(t)
	const passphrase = "the passphrase of the log test"
	const secretPath = "secret-folder/secret-file-name"
	p := newSealfsProc(t)
	store, _ := p.initVault(passphrase)
	env := map[string]string{envPassphrase: passphrase}
	mnt := p.mountDaemon(store, env, "--cache-dir", t.TempDir())
	if err := os.Mkdir(filepath.Join(mnt, "secret-folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, secretPath), bytes.Repeat([]byte("plaintext "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	p.run(nil, "umount", mnt)
	flipDataObjects(t, store)

	for _, verbose := range []bool{false, true} {
		args := []string{"mount", "--read-only", "--cache-dir", t.TempDir()}
		if verbose {
			args = append(args, "--verbose")
		}
		log := p.foregroundMount(store, env, args, func(mnt string) {
			_, err := os.ReadFile(filepath.Join(mnt, secretPath))
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("reading the damaged file: %v, want EIO", err)
			}
		})
		var line string
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "cannot read file data") {
				line = l
			}
		}
		if !strings.Contains(line, "object=") {
			t.Fatalf("verbose=%v: no integrity failure with its object id in the log:\n%s", verbose, log)
		}
		if strings.Contains(log, "secret-") != verbose {
			t.Errorf("verbose=%v: the log shows the path = %v:\n%s", verbose, !verbose, log)
		}
	}
}

// flipDataObjects damages every data object of the directory store.
func flipDataObjects(t *testing.T, store string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(store, "data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 1
		n++
		return os.WriteFile(path, b, 0o600)
	})
	if err != nil || n == 0 {
		t.Fatalf("damaging the data objects of %s: %v (%d objects)", store, err, n)
	}
}

// foregroundMount runs 'sealfs <args> store MNT' in the foreground, calls
// use once it is mounted, unmounts with 'sealfs umount' and returns what
// the mount wrote to stderr (its log).
func (p *sealfsProc) foregroundMount(store string, extra map[string]string, args []string, use func(mnt string)) string {
	t := p.t
	t.Helper()
	mnt := t.TempDir()
	cmd := p.command(extra, append(args, store, mnt)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if _, ok := mountedFSType(mnt); ok {
			_ = unix.Unmount(mnt, unix.MNT_DETACH)
		}
		_ = cmd.Process.Kill()
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if _, ok := mountedFSType(mnt); ok {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("sealfs %s exited before mounting: %v\n%s", strings.Join(args, " "), err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("sealfs %s: not mounted after a minute\n%s", strings.Join(args, " "), stderr.String())
		}
	}
	use(mnt)
	p.run(nil, "umount", mnt)
	if err := <-exited; err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
	}
	return stderr.String()
}
