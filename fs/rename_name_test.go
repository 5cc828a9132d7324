package fs

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// TestRenameNamesTheFile: after a rename through the mount (the kernel
// moves its entry and looks nothing up), an open of the file is named by
// its new name (read-ahead across its folder, the intent log's hint), for
// a plain rename and for both sides of RENAME_EXCHANGE.
func TestRenameNamesTheFile(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	mt := v.mount(t)
	ino := func(name string) meta.Ino {
		t.Helper()
		var st syscall.Stat_t
		ok(t, syscall.Stat(mt.path(name), &st))
		return meta.Ino(st.Ino)
	}
	want := func(name string) {
		t.Helper()
		i := ino(name)
		if got, known := mt.m.fs.placeOf(i); !known || got != (meta.Place{Parent: meta.RootIno, Name: name}) {
			t.Errorf("inode %d, now %q, is named %+v (known %v)", i, name, got, known)
		}
	}
	ok(t, os.WriteFile(mt.path(".tmp-photo"), []byte("jpeg"), 0o644))
	ok(t, os.Rename(mt.path(".tmp-photo"), mt.path("photo.jpg")))
	want("photo.jpg")
	ok(t, os.WriteFile(mt.path("other.jpg"), []byte("png"), 0o644))
	ok(t, unix.Renameat2(unix.AT_FDCWD, mt.path("photo.jpg"), unix.AT_FDCWD, mt.path("other.jpg"), unix.RENAME_EXCHANGE))
	want("photo.jpg")
	want("other.jpg")
}
