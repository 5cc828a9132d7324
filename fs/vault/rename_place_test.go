package vault

import (
	"context"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// TestRenameMovesPlace: a file renamed (or linked) while open with
// unpublished data is named by its new name in the intent log's hints
// (places), not by the name it was opened by, which Tree.Paths would
// find stale and then walk the whole tree to replace. A sync tool's
// temporary file renamed into place is this case.
func TestRenameMovesPlace(t *testing.T) {
	tv := newVault(t, remote.NewMemory(), 256<<10)
	v := tv.open(t)
	defer v.close(t)
	f, err := v.Create(meta.RootIno, ".tmp-1", syscall.S_IFREG|0o644, 0, 0)
	ok(t, err)
	h, err := v.OpenFile(f.Ino, syscall.O_RDWR)
	ok(t, err)
	defer h.Release()
	h.Named(meta.RootIno, ".tmp-1")
	_, err = h.WriteAt(context.Background(), pattern(1, 1000), 0)
	ok(t, err)
	want := func(step string, at meta.Place) {
		t.Helper()
		if got := v.places([]meta.Ino{f.Ino})[f.Ino]; got != at {
			t.Errorf("after %s: the intent log names the file %+v, want %+v", step, got, at)
		}
	}
	want("the open", meta.Place{Parent: meta.RootIno, Name: ".tmp-1"})
	ok(t, v.Rename(meta.RootIno, ".tmp-1", meta.RootIno, "photo.jpg", 0))
	want("the rename", meta.Place{Parent: meta.RootIno, Name: "photo.jpg"})
	d, err := v.Mkdir(meta.RootIno, "d", syscall.S_IFDIR|0o755, 0, 0)
	ok(t, err)
	_, err = v.Link(f.Ino, d.Ino, "copy.jpg")
	ok(t, err)
	want("the link", meta.Place{Parent: d.Ino, Name: "copy.jpg"})
}
