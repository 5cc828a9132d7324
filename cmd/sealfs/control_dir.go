package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Whoever can write to the control socket directory can plant a socket
// there and answer 'sealfs umount' in a mount's name ("committed") when
// nothing was committed. /tmp/sealfs-UID, used without XDG_RUNTIME_DIR,
// can be made by any local user before us. So the server listens only in
// a directory that is ours alone, and the client talks only to a socket of
// ours in such a directory.

// untrustedError refuses a control socket directory or socket another
// user may control.
type untrustedError struct {
	path, why string
}

func (e *untrustedError) Error() string {
	return fmt.Sprintf("control socket directory %s: %s", e.path, e.why)
}

// refuseUntrusted wraps an untrustedError with the fix.
func refuseUntrusted(path, why string) error {
	hint := "another user may have made it to answer sealfs commands in a mount's name: remove it (as its owner or root); sealfs makes it again, private"
	if os.Geteuid() != 0 {
		hint += ", or set XDG_RUNTIME_DIR to a directory only you can write"
	}
	return withCode(exitError, &untrustedError{path: path, why: why}, hint)
}

// makePrivateDir creates dir (0700) if it is missing and checks it as
// checkPrivateDir does.
func makePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if _, lerr := os.Lstat(dir); lerr != nil {
			return fmt.Errorf("control socket directory: %w", err)
		}
		// It exists but is no directory: checkPrivateDir says what it is.
	}
	return checkPrivateDir(dir)
}

// checkPrivateDir refuses dir unless it is a directory, not a symbolic
// link, owned by the effective uid; group and other permissions on such a
// directory are removed. It works on one descriptor opened without
// following a link, so what it checks is what it changes.
func checkPrivateDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		// Linux says ENOTDIR for a link with O_DIRECTORY; Lstat only words
		// the message.
		if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode().Type() == os.ModeSymlink {
			return refuseUntrusted(dir, "it is a symbolic link")
		}
		return refuseUntrusted(dir, "it is not a directory")
	case err != nil:
		return fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return refuseUntrusted(dir, fmt.Sprintf("it belongs to uid %d, not to you (uid %d)", st.Uid, euid))
	}
	if st.Mode&0o777 != 0o700 {
		if err := unix.Fchmod(fd, 0o700); err != nil {
			return fmt.Errorf("control socket directory %s: making it private: %w", dir, err)
		}
	}
	return nil
}

// dialControl connects to the control socket path in dir, only if dir is
// private (checkPrivateDir) and the socket is ours; errNoServer if there
// is no socket or nothing answers on it.
func dialControl(ctx context.Context, dir, path string) (net.Conn, error) {
	if err := checkPrivateDir(dir); errors.Is(err, os.ErrNotExist) {
		return nil, errNoServer
	} else if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, errNoServer
	}
	if st, euid := fi.Sys().(*syscall.Stat_t), os.Geteuid(); fi.Mode().Type() != os.ModeSocket || int(st.Uid) != euid {
		return nil, refuseUntrusted(dir, fmt.Sprintf("%s is a %s of uid %d, not a socket of yours (uid %d)", fi.Name(), fileKind(fi), st.Uid, euid))
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, errNoServer
	}
	return conn, nil
}

func fileKind(fi os.FileInfo) string {
	if fi.Mode().Type() == os.ModeSocket {
		return "socket"
	}
	return "file"
}
