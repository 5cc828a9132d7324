package meta

import (
	"errors"
	"syscall"
	"testing"
)

// TestReplace: a follower's tree takes the new content whole, hands back
// the old one, and keeps an open file the new tree lacks as an unlinked
// inode until Release.
func TestReplace(t *testing.T) {
	const chunk = 64 << 10
	cur := NewTree(chunk, 0, 0, 1)
	must := func(in Inode, err error) Inode {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	must(cur.Create(RootIno, "x", 0o644, 0, 0, 2))
	open := must(cur.Create(RootIno, "open", 0o600, 0, 0, 2))
	open = must(cur.SetAttr(open.Ino, SetAttrIn{Size: ptr(uint64(1000))}, 3))
	dir := must(cur.Mkdir(RootIno, "dir", 0o755, 0, 0, 2))

	next := NewTree(chunk, 0, 0, 5)
	must(next.Create(RootIno, "new", 0o644, 0, 0, 6))

	old := cur.Replace(next, []Ino{open.Ino, dir.Ino, 99})

	if _, err := cur.Lookup(RootIno, "new"); err != nil {
		t.Errorf("new name missing after Replace: %v", err)
	}
	for _, name := range []string{"x", "open", "dir"} {
		if _, err := cur.Lookup(RootIno, name); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("old name %q after Replace: %v, want ENOENT", name, err)
		}
	}
	kept, ok := cur.Get(open.Ino)
	if !ok || kept.Nlink != 0 || kept.Size != 1000 || kept.Mode != open.Mode {
		t.Errorf("open file after Replace: %+v, %v; want it unlinked with its size", kept, ok)
	}
	if _, ok := cur.Get(dir.Ino); ok {
		t.Errorf("a directory was kept; only open regular files are")
	}
	if files, dirs, bytes := cur.Stats(); files != 2 || dirs != 1 || bytes != 1000 {
		t.Errorf("Stats = %d files, %d dirs, %d bytes; want 2, 1, 1000", files, dirs, bytes)
	}
	if _, err := old.Lookup(RootIno, "x"); err != nil {
		t.Errorf("old tree lost %q: %v", "x", err)
	}
	if _, err := old.Lookup(RootIno, "new"); err == nil {
		t.Errorf("old tree has the new name")
	}

	cur.Release(open.Ino)
	if _, ok := cur.Get(open.Ino); ok {
		t.Errorf("kept file still there after Release")
	}
	if in, err := cur.Create(RootIno, "later", 0o644, 0, 0, 7); err != nil || in.Ino <= open.Ino {
		t.Errorf("new inode %d (%v) after Replace; numbers must not be reused (kept %d)", in.Ino, err, open.Ino)
	}
}

