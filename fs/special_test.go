package fs

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSpecialFiles (issue 15): what `rsync -a`, `tar -x` and `cp -a` of a
// home directory create: FIFOs, character and block device nodes and a
// bound Unix socket are inodes like the others, with mode, owner, times,
// rdev and hard links, and every later step on them works (chmod, chown,
// link, rename over, unlink). After unmount they are there, equal, on a
// fresh read-only mount of another device; a FIFO there behaves as a FIFO,
// and a device node does not open the device (the mount is nodev).
func TestSpecialFiles(t *testing.T) {
	forEachStore(t, func(t *testing.T, v *testVault) {
		mt := v.mount(t)
		ok(t, os.Mkdir(mt.path("home"), 0o755))
		ok(t, syscall.Mkfifo(mt.path("home/fifo"), 0o640))
		ok(t, syscall.Mknod(mt.path("home/null"), syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		ok(t, syscall.Mknod(mt.path("home/sda"), syscall.S_IFBLK|0o660, int(unix.Mkdev(8, 0))))
		l, err := net.Listen("unix", mt.path("home/app.sock"))
		ok(t, err)
		ok(t, l.Close())
		if _, err := os.Lstat(mt.path("home/app.sock")); errors.Is(err, os.ErrNotExist) {
			// Go removes the socket file on Close; bind it again, keep it.
			fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			ok(t, err)
			ok(t, syscall.Bind(fd, &syscall.SockaddrUnix{Name: mt.path("home/app.sock")}))
			syscall.Close(fd)
		}
		ok(t, os.Chmod(mt.path("home/fifo"), 0o600))
		ok(t, os.Chown(mt.path("home/null"), 1000, 1001))
		ok(t, os.Link(mt.path("home/fifo"), mt.path("fifo-link")))
		ok(t, syscall.Mkfifo(mt.path("home/old"), 0o644))
		ok(t, os.Rename(mt.path("home/sda"), mt.path("home/old"))) // over another special file
		ok(t, syscall.Mkfifo(mt.path("gone"), 0o644))
		ok(t, os.Remove(mt.path("gone")))
		if out, err := exec.Command("cp", "-a", mt.path("home"), mt.path("copy")).CombinedOutput(); err != nil {
			t.Fatalf("cp -a of special files: %v: %s", err, out)
		}
		want := statAll(t, mt.dir, "home/fifo", "home/null", "home/old", "home/app.sock", "fifo-link", "copy/fifo", "copy/null", "copy/app.sock")
		if _, err := os.Lstat(mt.path("home/sda")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("home/sda after the rename: %v", err)
		}
		if f, err := os.OpenFile(mt.path("home/null"), os.O_WRONLY, 0); err == nil {
			f.Close()
			t.Fatal("a device node on the mount opened its device: the mount must be nodev")
		}
		mt.unmount(t)

		ro := v.mount(t, func(o *Options) { o.ReadOnly = true; o.FollowInterval = -1 })
		got := statAll(t, ro.dir, "home/fifo", "home/null", "home/old", "home/app.sock", "fifo-link", "copy/fifo", "copy/null", "copy/app.sock")
		for p, w := range want {
			g := got[p]
			if g.Mode != w.Mode || g.Rdev != w.Rdev || g.Uid != w.Uid || g.Gid != w.Gid || g.Nlink != w.Nlink || g.Ino != w.Ino || g.Mtim != w.Mtim {
				t.Errorf("%s after remount: %+v, want %+v", p, g, w)
			}
		}
		if got["home/null"].Rdev != uint64(unix.Mkdev(1, 3)) || got["home/old"].Mode&syscall.S_IFMT != syscall.S_IFBLK || got["home/fifo"].Nlink != 2 || got["home/null"].Uid != 1000 {
			t.Errorf("special files after remount: %+v", got)
		}
		// The FIFO is the kernel's: a writer and a reader meet through it.
		done := make(chan error, 1)
		go func() {
			f, err := os.OpenFile(ro.path("home/fifo"), os.O_WRONLY, 0)
			if err == nil {
				_, err = f.Write([]byte("through the pipe"))
				err = errors.Join(err, f.Close())
			}
			done <- err
		}()
		data, err := os.ReadFile(ro.path("home/fifo"))
		ok(t, errors.Join(err, <-done))
		if string(data) != "through the pipe" {
			t.Fatalf("read %q from the FIFO", data)
		}
	})
}

func statAll(t *testing.T, dir string, paths ...string) map[string]syscall.Stat_t {
	t.Helper()
	out := map[string]syscall.Stat_t{}
	for _, p := range paths {
		var st syscall.Stat_t
		if err := syscall.Lstat(dir+"/"+p, &st); err != nil {
			t.Fatalf("lstat %s: %v", p, err)
		}
		out[p] = st
	}
	return out
}
