package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nobody is the uid of "another local user" in these tests.
const nobody = 65534

// plantServer listens at path like a sealfs mount that confirms every
// unmount at once: what another user would plant to make 'sealfs umount'
// report a commit that never happened.
func plantServer(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			var req controlRequest
			_ = json.NewDecoder(conn).Decode(&req)
			_ = json.NewEncoder(conn).Encode(controlReply{Final: true})
			conn.Close()
		}
	}()
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// TestControlDirMustBePrivate: a socket directory another user owns or a
// symbolic link is refused by the mount (listenControl) and by
// 'sealfs umount' (requestUnmount), with one line naming the directory,
// why, and the fix, even when a planted socket in it would answer; a
// directory of ours with loose permissions is made private.
func TestControlDirMustBePrivate(t *testing.T) {
	const mnt = "/the/mount"
	for _, tc := range []struct {
		name   string
		root   bool // needs root (chown)
		make   func(t *testing.T, dir string)
		refuse string // "" = accepted
	}{
		{"another user's directory", true, func(t *testing.T, dir string) {
			mkdir(t, dir, 0o700)
			plantServer(t, controlPath(dir, mnt))
			chown(t, dir, nobody)
		}, "it belongs to uid 65534, not to you (uid 0)"},
		{"another user's directory, mode 0777", true, func(t *testing.T, dir string) {
			mkdir(t, dir, 0o777)
			plantServer(t, controlPath(dir, mnt))
			chown(t, controlPath(dir, mnt), nobody)
			chown(t, dir, nobody)
		}, "it belongs to uid 65534, not to you (uid 0)"},
		{"symbolic link to a directory of ours", false, func(t *testing.T, dir string) {
			target := filepath.Join(filepath.Dir(dir), "elsewhere")
			mkdir(t, target, 0o700)
			plantServer(t, controlPath(target, mnt))
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}, "it is a symbolic link"},
		{"a file", false, func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "it is not a directory"},
		{"ours, mode 0777", false, func(t *testing.T, dir string) {
			mkdir(t, dir, 0o777)
		}, ""},
		{"missing", false, func(t *testing.T, dir string) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("needs root to make a directory of another user")
			}
			dir := filepath.Join(shortTempDir(t), "sealfs-0")
			tc.make(t, dir)
			clientErr := requestUnmount(context.Background(), dir, mnt, func(int64, int64) {})
			ctl, serverErr := listenControl(dir, mnt)
			if tc.refuse == "" {
				if serverErr != nil || !errors.Is(clientErr, errNoServer) {
					t.Fatalf("refused: server %v, client %v", serverErr, clientErr)
				}
				ctl.close()
				if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
					t.Fatalf("the directory is %v (%v), want private (0700)", fi.Mode(), err)
				}
				return
			}
			for who, err := range map[string]error{"mount": serverErr, "umount": clientErr} {
				var untrusted *untrustedError
				if !errors.As(err, &untrusted) {
					t.Errorf("%s: %v, want it refused", who, err)
					continue
				}
				var line strings.Builder
				printError(&line, err)
				want := "sealfs: error: control socket directory " + dir + ": " + tc.refuse + " (another user may have made it"
				if !strings.HasPrefix(line.String(), want) || !strings.Contains(line.String(), "remove it") || strings.Count(line.String(), "\n") != 1 {
					t.Errorf("%s: %q, want one line starting %q with the fix", who, line.String(), want)
				}
			}
			ctl.close()
		})
	}
}

// TestControlSocketMustBeOurs: in a private directory (made private by the
// mount after it was open to others), 'sealfs umount' refuses a socket
// another user left there instead of believing its answer.
func TestControlSocketMustBeOurs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a socket of another user")
	}
	const mnt = "/the/mount"
	dir := filepath.Join(shortTempDir(t), "sealfs-0")
	mkdir(t, dir, 0o777) // open, as before sealfs tightened it
	plantServer(t, controlPath(dir, mnt))
	chown(t, controlPath(dir, mnt), nobody)
	err := requestUnmount(context.Background(), dir, mnt, func(int64, int64) {})
	var untrusted *untrustedError
	if !errors.As(err, &untrusted) || !strings.Contains(err.Error(), "is a socket of uid 65534, not a socket of yours") {
		t.Fatalf("umount through another user's socket: %v, want it refused", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the directory is %v (%v), want private (0700)", fi.Mode(), err)
	}

	// A socket of ours there is trusted.
	ctl, err := listenControl(dir, mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.close()
	ctl.start(fakeMount{})
	if err := requestUnmount(context.Background(), dir, mnt, func(int64, int64) {}); err != nil {
		t.Fatalf("umount through our own socket: %v", err)
	}
}

type fakeMount struct{}

func (fakeMount) Unmount() error                { return nil }
func (fakeMount) Progress() (done, total int64) { return 0, 0 }

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// shortTempDir is a temporary directory with a path short enough for a
// socket in it (t.TempDir's can pass the 108 bytes of sun_path).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sealfs-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestUmountWaitsForExit: 'sealfs umount' returns only once the mount's
// process is done with the store, writer lease released, not when the
// final commit is: a test that compared the bucket right after umount saw
// the lease object change (TestRestoreWithoutFUSEDirectory, 1 run in 5
// under load). The failure is a reply that comes too early, so this test
// gives the early reply a window (a healthy early reply takes a few ms)
// before it lets the process exit.
func TestUmountWaitsForExit(t *testing.T) {
	const mnt = "/the/mount"
	dir := filepath.Join(shortTempDir(t), "sealfs-0")
	ctl, err := listenControl(dir, mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.close()
	ctl.waitForExit()
	ctl.start(fakeMount{})
	done := make(chan error, 1)
	go func() { done <- requestUnmount(context.Background(), dir, mnt, func(int64, int64) {}) }()
	select {
	case err := <-done:
		t.Fatalf("umount returned (%v) before the mount's process was done with the store", err)
	case <-time.After(500 * time.Millisecond):
	}
	ctl.exited(errors.New("releasing the writer lease: the store said no"))
	if err := <-done; err == nil || !strings.Contains(err.Error(), "releasing the writer lease") {
		t.Fatalf("umount = %v, want the error of the process's last step", err)
	}
}
