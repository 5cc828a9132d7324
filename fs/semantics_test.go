package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// semantic is one user-visible behaviour, checked on a live mount; the
// harness then checks that a remount elsewhere sees the same tree and that
// nothing was stored in plaintext.
type semantic struct {
	name string
	run  func(t *testing.T, mt *mounted)
}

func mustErrno(t *testing.T, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeAt(t *testing.T, p string, off int64, data []byte, flag int) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|flag, 0o644)
	ok(t, err)
	_, err = f.WriteAt(data, off)
	ok(t, err)
	ok(t, f.Close())
}

var semantics = []semantic{
	{"write across chunk boundaries", func(t *testing.T, mt *mounted) {
		data := pattern(1, 3*testChunk+123)
		ok(t, os.WriteFile(mt.path("big"), data, 0o644))
		wantContent(t, mt.path("big"), data)
		f, err := os.Open(mt.path("big"))
		ok(t, err)
		defer f.Close()
		for _, off := range []int64{0, 1, testChunk - 1, testChunk, testChunk + 1, 2*testChunk - 3, 3 * testChunk} {
			buf := make([]byte, 7)
			n, _ := f.ReadAt(buf, off)
			if !bytes.Equal(buf[:n], data[off:min(off+7, int64(len(data)))]) {
				t.Errorf("ReadAt %d: got %x", off, buf[:n])
			}
		}
	}},
	{"sparse holes read as zeros and cost nothing", func(t *testing.T, mt *mounted) {
		store := mt.store
		ok(t, mt.m.Sync(context.Background()))
		before := countData(t, store)
		writeAt(t, mt.path("sparse"), 5*testChunk+7, []byte("tail"), 0)
		want := make([]byte, 5*testChunk+11)
		copy(want[5*testChunk+7:], "tail")
		wantContent(t, mt.path("sparse"), want)
		ok(t, mt.m.Sync(context.Background()))
		if n := countData(t, store) - before; n != 1 {
			t.Errorf("a file with one written chunk stored %d objects", n)
		}
	}},
	{"overwrite inside a chunk keeps the rest", func(t *testing.T, mt *mounted) {
		data := pattern(2, 2*testChunk+5)
		ok(t, os.WriteFile(mt.path("f"), data, 0o644))
		patch := bytes.Repeat([]byte{0xAB}, 100)
		writeAt(t, mt.path("f"), testChunk-50, patch, 0)
		copy(data[testChunk-50:], patch)
		wantContent(t, mt.path("f"), data)
	}},
	{"append after reopen", func(t *testing.T, mt *mounted) {
		a, b := pattern(3, testChunk+10), pattern(4, 1000)
		ok(t, os.WriteFile(mt.path("log"), a, 0o644))
		f, err := os.OpenFile(mt.path("log"), os.O_WRONLY|os.O_APPEND, 0)
		ok(t, err)
		_, err = f.Write(b)
		ok(t, err)
		ok(t, f.Close())
		wantContent(t, mt.path("log"), append(a, b...))
	}},
	{"O_TRUNC empties the file", func(t *testing.T, mt *mounted) {
		ok(t, os.WriteFile(mt.path("t"), pattern(5, testChunk*2), 0o644))
		ok(t, os.WriteFile(mt.path("t"), []byte("short"), 0o644))
		wantContent(t, mt.path("t"), []byte("short"))
	}},
	{"O_EXCL refuses an existing name", func(t *testing.T, mt *mounted) {
		ok(t, os.WriteFile(mt.path("x"), nil, 0o644))
		_, err := os.OpenFile(mt.path("x"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		mustErrno(t, err, syscall.EEXIST)
	}},
	{"truncate down then up reads zeros", func(t *testing.T, mt *mounted) {
		data := pattern(6, 2*testChunk+99)
		ok(t, os.WriteFile(mt.path("tr"), data, 0o644))
		ok(t, os.Truncate(mt.path("tr"), testChunk/2+3))
		ok(t, os.Truncate(mt.path("tr"), 3*testChunk))
		want := make([]byte, 3*testChunk)
		copy(want, data[:testChunk/2+3])
		wantContent(t, mt.path("tr"), want)
	}},
	{"ftruncate of a file being written", func(t *testing.T, mt *mounted) {
		f, err := os.Create(mt.path("ft"))
		ok(t, err)
		data := pattern(7, 2*testChunk+10)
		_, err = f.Write(data)
		ok(t, err)
		ok(t, f.Truncate(testChunk+5))
		st, err := os.Stat(mt.path("ft"))
		ok(t, err)
		if st.Size() != testChunk+5 {
			t.Errorf("size after ftruncate %d, want %d", st.Size(), testChunk+5)
		}
		_, err = f.WriteAt([]byte("end"), 2*testChunk)
		ok(t, err)
		ok(t, f.Close())
		want := make([]byte, 2*testChunk+3)
		copy(want, data[:testChunk+5])
		copy(want[2*testChunk:], "end")
		wantContent(t, mt.path("ft"), want)
	}},
	{"truncate inside a buffered chunk, then write past it", func(t *testing.T, mt *mounted) {
		f, err := os.Create(mt.path("tb"))
		ok(t, err)
		_, err = f.Write(pattern(14, 1000))
		ok(t, err)
		ok(t, f.Truncate(10))
		_, err = f.WriteAt([]byte("x"), 500)
		ok(t, err)
		ok(t, f.Close())
		want := make([]byte, 501)
		copy(want, pattern(14, 10))
		want[500] = 'x'
		wantContent(t, mt.path("tb"), want)
	}},
	{"getattr of an open file shows written size", func(t *testing.T, mt *mounted) {
		f, err := os.Create(mt.path("open"))
		ok(t, err)
		defer f.Close()
		_, err = f.Write(pattern(8, testChunk+77))
		ok(t, err)
		var st syscall.Stat_t
		ok(t, syscall.Stat(mt.path("open"), &st))
		if st.Size != testChunk+77 {
			t.Errorf("size %d, want %d", st.Size, testChunk+77)
		}
	}},
	{"chmod chown utimens with nanoseconds", func(t *testing.T, mt *mounted) {
		p := mt.path("attrs")
		ok(t, os.WriteFile(p, []byte("x"), 0o600))
		ok(t, os.Chmod(p, 0o751))
		ok(t, os.Chown(p, 1234, 5678))
		ts := []unix.Timespec{{Sec: 1000, Nsec: 123456789}, {Sec: 2000, Nsec: 987654321}}
		ok(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0))
		var st syscall.Stat_t
		ok(t, syscall.Stat(p, &st))
		if st.Mode&0o7777 != 0o751 || st.Uid != 1234 || st.Gid != 5678 || st.Mtim.Nano() != 2000_987654321 {
			t.Errorf("got mode %o uid %d gid %d mtime %d", st.Mode&0o7777, st.Uid, st.Gid, st.Mtim.Nano())
		}
	}},
	{"a mode without permission bits is reported as it is", func(t *testing.T, mt *mounted) {
		// As ext4 does; go-fuse's node API reported such a file as 0644
		// (seen failing there).
		p := mt.path("noperm")
		ok(t, os.WriteFile(p, []byte("x"), 0o600))
		ok(t, os.Chmod(p, 0))
		var st syscall.Stat_t
		ok(t, syscall.Stat(p, &st))
		if st.Mode != syscall.S_IFREG {
			t.Errorf("mode %o after chmod 0, want %o", st.Mode, syscall.S_IFREG)
		}
	}},
	{"utimens right after close wins over the publish", func(t *testing.T, mt *mounted) {
		p := mt.path("touched")
		ok(t, os.WriteFile(p, pattern(9, testChunk+1), 0o644))
		want := time.Unix(1500, 42)
		ok(t, os.Chtimes(p, want, want))
		eventually(t, "the publish the close started", func() error {
			if n := mt.m.Vault().Stats().DirtyFiles; n > 0 {
				return fmt.Errorf("%d files not published", n)
			}
			return nil
		})
		st, err := os.Stat(p)
		ok(t, err)
		if !st.ModTime().Equal(want) {
			t.Errorf("mtime %v, want %v", st.ModTime(), want)
		}
	}},
	{"mkdir and rmdir", func(t *testing.T, mt *mounted) {
		ok(t, os.MkdirAll(mt.path("a/b/c"), 0o755))
		mustErrno(t, syscall.Rmdir(mt.path("a/b")), syscall.ENOTEMPTY)
		ok(t, os.Remove(mt.path("a/b/c")))
		ok(t, os.Remove(mt.path("a/b")))
		mustErrno(t, syscall.Mkdir(mt.path("a"), 0o755), syscall.EEXIST)
	}},
	{"unlinked open file stays readable", func(t *testing.T, mt *mounted) {
		data := pattern(10, testChunk+3)
		ok(t, os.WriteFile(mt.path("gone"), data, 0o644))
		f, err := os.Open(mt.path("gone"))
		ok(t, err)
		ok(t, os.Remove(mt.path("gone")))
		buf := make([]byte, len(data))
		n, err := f.ReadAt(buf, 0)
		if err != nil || !bytes.Equal(buf[:n], data) {
			t.Errorf("read after unlink: n=%d err=%v", n, err)
		}
		ok(t, f.Close())
		if _, err := os.Stat(mt.path("gone")); !os.IsNotExist(err) {
			t.Errorf("stat after unlink: %v", err)
		}
	}},
	{"temp file renamed over the old one", func(t *testing.T, mt *mounted) {
		ok(t, os.WriteFile(mt.path("db"), pattern(11, 2*testChunk), 0o644))
		f, err := os.Open(mt.path("db"))
		ok(t, err)
		defer f.Close()
		newData := pattern(12, testChunk+17)
		ok(t, os.WriteFile(mt.path("db.tmp"), newData, 0o644))
		ok(t, os.Rename(mt.path("db.tmp"), mt.path("db")))
		wantContent(t, mt.path("db"), newData)
		old := make([]byte, 10)
		_, err = f.ReadAt(old, 0)
		ok(t, err)
		if !bytes.Equal(old, pattern(11, 10)) {
			t.Errorf("old open file changed: %x", old)
		}
	}},
	{"rename over an empty directory", func(t *testing.T, mt *mounted) {
		ok(t, os.MkdirAll(mt.path("src/sub"), 0o755))
		ok(t, os.WriteFile(mt.path("src/sub/f"), []byte("in src"), 0o644))
		ok(t, os.Mkdir(mt.path("dst"), 0o755))
		// os.Rename refuses an existing directory as target; the syscall does not.
		ok(t, syscall.Rename(mt.path("src"), mt.path("dst")))
		wantContent(t, mt.path("dst/sub/f"), []byte("in src"))
		ok(t, os.Mkdir(mt.path("full"), 0o755))
		ok(t, os.WriteFile(mt.path("full/x"), nil, 0o644))
		mustErrno(t, syscall.Rename(mt.path("dst"), mt.path("full")), syscall.ENOTEMPTY)
	}},
	{"RENAME_NOREPLACE and RENAME_EXCHANGE", func(t *testing.T, mt *mounted) {
		ok(t, os.WriteFile(mt.path("a"), []byte("A"), 0o644))
		ok(t, os.WriteFile(mt.path("b"), []byte("B"), 0o644))
		mustErrno(t, unix.Renameat2(unix.AT_FDCWD, mt.path("a"), unix.AT_FDCWD, mt.path("b"), unix.RENAME_NOREPLACE), syscall.EEXIST)
		ok(t, unix.Renameat2(unix.AT_FDCWD, mt.path("a"), unix.AT_FDCWD, mt.path("b"), unix.RENAME_EXCHANGE))
		wantContent(t, mt.path("a"), []byte("B"))
		wantContent(t, mt.path("b"), []byte("A"))
		ok(t, unix.Renameat2(unix.AT_FDCWD, mt.path("a"), unix.AT_FDCWD, mt.path("c"), unix.RENAME_NOREPLACE))
	}},
	{"symlink and readlink", func(t *testing.T, mt *mounted) {
		ok(t, os.Symlink("../some/where", mt.path("ln")))
		got, err := os.Readlink(mt.path("ln"))
		ok(t, err)
		if got != "../some/where" {
			t.Errorf("readlink %q", got)
		}
	}},
	{"readdir inode numbers match stat", func(t *testing.T, mt *mounted) {
		ok(t, os.Mkdir(mt.path("d"), 0o755))
		for _, n := range []string{"one", "two", "three"} {
			ok(t, os.WriteFile(mt.path("d/"+n), nil, 0o644))
		}
		ents, err := os.ReadDir(mt.path("d"))
		ok(t, err)
		if len(ents) != 3 {
			t.Fatalf("%d entries", len(ents))
		}
		for _, e := range ents {
			info, err := e.Info()
			ok(t, err)
			var st syscall.Stat_t
			ok(t, syscall.Stat(mt.path("d/"+e.Name()), &st))
			if info.Sys().(*syscall.Stat_t).Ino != st.Ino || st.Ino <= uint64(meta.RootIno) {
				t.Errorf("%s: inode %d vs %d", e.Name(), info.Sys().(*syscall.Stat_t).Ino, st.Ino)
			}
		}
	}},
	{"statfs", func(t *testing.T, mt *mounted) {
		ok(t, os.WriteFile(mt.path("s"), pattern(13, 10000), 0o644))
		var st unix.Statfs_t
		ok(t, unix.Statfs(mt.dir, &st))
		if st.Namelen != 255 || st.Bsize <= 0 || st.Bavail == 0 || st.Files == 0 || st.Blocks < st.Bfree {
			t.Errorf("statfs %+v", st)
		}
	}},
	{"user xattrs", func(t *testing.T, mt *mounted) {
		p := mt.path("xa")
		ok(t, os.WriteFile(p, nil, 0o644))
		ok(t, unix.Setxattr(p, "user.color", []byte("blue"), 0))
		if n, err := unix.Getxattr(p, "user.color", nil); n != 4 || err != nil {
			t.Errorf("getxattr size query: %d, %v", n, err)
		}
		if n, err := unix.Listxattr(p, nil); n != len("user.color\x00") || err != nil {
			t.Errorf("listxattr size query: %d, %v", n, err)
		}
		_, err := unix.Getxattr(p, "user.color", make([]byte, 2))
		mustErrno(t, err, syscall.ERANGE)
		buf := make([]byte, 64)
		n, err := unix.Getxattr(p, "user.color", buf)
		ok(t, err)
		if string(buf[:n]) != "blue" {
			t.Errorf("getxattr %q", buf[:n])
		}
		n, err = unix.Listxattr(p, buf)
		ok(t, err)
		if string(buf[:n]) != "user.color\x00" {
			t.Errorf("listxattr %q", buf[:n])
		}
		mustErrno(t, unix.Setxattr(p, "user.color", []byte("red"), unix.XATTR_CREATE), syscall.EEXIST)
		ok(t, unix.Removexattr(p, "user.color"))
		_, err = unix.Getxattr(p, "user.color", buf)
		mustErrno(t, err, syscall.ENODATA)
		ok(t, unix.Setxattr(p, "user.kept", []byte("v"), 0))
	}},
	// sealfs deliberately differs from ext4 here (node_file.go,
	// selinuxXattr): ls -l would ask every file for its label. Seen
	// failing with ENODATA.
	{"a missing SELinux label is EOPNOTSUPP, a stored one comes back", func(t *testing.T, mt *mounted) {
		p, q := mt.path("unlabelled"), mt.path("labelled")
		ok(t, os.WriteFile(p, nil, 0o644))
		ok(t, os.WriteFile(q, nil, 0o644))
		buf := make([]byte, 64)
		_, err := unix.Lgetxattr(p, "security.selinux", buf)
		mustErrno(t, err, syscall.EOPNOTSUPP)
		_, err = unix.Lgetxattr(p, "security.other", buf)
		mustErrno(t, err, syscall.ENODATA)
		_, err = unix.Lgetxattr(p, "user.none", buf)
		mustErrno(t, err, syscall.ENODATA)
		label := "system_u:object_r:user_home_t:s0"
		ok(t, unix.Lsetxattr(q, "security.selinux", []byte(label), 0))
		n, err := unix.Lgetxattr(q, "security.selinux", buf)
		ok(t, err)
		if string(buf[:n]) != label {
			t.Errorf("stored label %q, want %q", buf[:n], label)
		}
	}},
	{"hard links share content", func(t *testing.T, mt *mounted) {
		ok(t, os.WriteFile(mt.path("h1"), []byte("first"), 0o644))
		ok(t, os.Link(mt.path("h1"), mt.path("h2")))
		writeAt(t, mt.path("h2"), 0, []byte("FIRST"), 0)
		wantContent(t, mt.path("h1"), []byte("FIRST"))
		var st syscall.Stat_t
		ok(t, syscall.Stat(mt.path("h1"), &st))
		if st.Nlink != 2 {
			t.Errorf("nlink %d", st.Nlink)
		}
		ok(t, os.Remove(mt.path("h1")))
		wantContent(t, mt.path("h2"), []byte("FIRST"))
	}},
	{"files larger than the format allows are EFBIG", func(t *testing.T, mt *mounted) {
		f, err := os.Create(mt.path("huge"))
		ok(t, err)
		defer f.Close()
		_, err = f.WriteAt([]byte("x"), int64(meta.MaxFileSize))
		mustErrno(t, err, syscall.EFBIG)
		mustErrno(t, f.Truncate(int64(meta.MaxFileSize)+1), syscall.EFBIG)
		ok(t, f.Truncate(int64(meta.MaxFileSize)))
		ok(t, f.Truncate(10))
	}},
	{"names: 255 bytes, any byte but slash and NUL", func(t *testing.T, mt *mounted) {
		long := strings.Repeat("n", 255)
		ok(t, os.WriteFile(mt.path(long), nil, 0o644))
		_, err := os.Create(mt.path(long + "x"))
		mustErrno(t, err, syscall.ENAMETOOLONG)
		odd := "\x01 \xff\xfe\n\t*?é"
		ok(t, os.WriteFile(mt.path(odd), []byte("odd"), 0o644))
		wantContent(t, mt.path(odd), []byte("odd"))
	}},
}

// TestSemantics runs every semantic on both stores, each in a fresh vault;
// then remounts the vault as a new device would (new engine, new cache
// directory) and compares the whole tree, and scans the cache directories
// and the bucket for plaintext.
func TestSemantics(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s3test.RequireFUSE(t)
			for _, s := range semantics {
				t.Run(s.name, func(t *testing.T) {
					store := st.new(t)
					v := newVault(t, store, testChunk)
					mt := v.mount(t)
					mark := marker(t, "name")
					ok(t, os.WriteFile(mt.path(mark), []byte(strings.Repeat(mark, 50)), 0o644))
					s.run(t, mt)
					if t.Failed() {
						return
					}
					before := snapshotTree(t, mt.dir)
					mt.unmount(t)
					mt2 := v.mount(t)
					if d := diffTrees(before, snapshotTree(t, mt2.dir)); d != "" {
						t.Errorf("remount differs:\n%s", d)
					}
					mt2.unmount(t)
					assertNoPlaintext(t, [][]byte{[]byte(mark)}, []string{mt.cache, mt2.cache}, store)
				})
			}
		})
	}
}

// countData counts the data objects in the store.
func countData(t testing.TB, store remote.Store) int {
	t.Helper()
	n := 0
	err := store.List(context.Background(), "data/", func(remote.ObjectInfo) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}
