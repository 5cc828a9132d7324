package meta

import (
	"slices"
	"syscall"
	"testing"
)

func TestNlinkDirs(t *testing.T) {
	fx := newFixture(t)
	tr := fx.t
	if got := fx.nlink(t, RootIno); got != 4 { // root: 2 + d + x
		t.Fatalf("root nlink %d, want 4", got)
	}
	if got := fx.nlink(t, fx.d); got != 3 {
		t.Fatalf("d nlink %d, want 3", got)
	}
	if err := tr.Rmdir(fx.d, "e", 10); err != nil {
		t.Fatal(err)
	}
	if got := fx.nlink(t, fx.d); got != 2 {
		t.Fatalf("d nlink after rmdir %d, want 2", got)
	}
	if got := fx.nlink(t, fx.e); got != 0 {
		t.Fatalf("removed dir nlink %d, want 0", got)
	}
	d, _ := tr.Get(fx.d)
	if d.Mtime != 10 || d.Ctime != 10 {
		t.Fatalf("parent times after rmdir: %d %d", d.Mtime, d.Ctime)
	}
	// Move x into d: root loses a subdir, d gains one.
	if _, err := tr.Rename(RootIno, "x", fx.d, "x", 0, 11); err != nil {
		t.Fatal(err)
	}
	if r, d := fx.nlink(t, RootIno), fx.nlink(t, fx.d); r != 3 || d != 3 {
		t.Fatalf("after move: root %d d %d, want 3 3", r, d)
	}
	checkInvariants(t, tr)
}

func TestHardLinks(t *testing.T) {
	fx := newFixture(t)
	tr := fx.t
	in, err := tr.Link(fx.f, fx.d, "f2", 10)
	if err != nil || in.Ino != fx.f || in.Nlink != 2 || in.Ctime != 10 {
		t.Fatalf("Link = %+v, %v", in, err)
	}
	if got, _ := tr.Lookup(fx.d, "f2"); got.Ino != fx.f {
		t.Fatalf("Lookup(f2) = %d", got.Ino)
	}
	if ino, err := tr.Unlink(RootIno, "f", 11); err != nil || ino != fx.f {
		t.Fatalf("Unlink = %d, %v", ino, err)
	}
	if got := fx.nlink(t, fx.f); got != 1 {
		t.Fatalf("nlink after unlink %d", got)
	}
	tr.Release(fx.f) // still linked: no-op
	if _, ok := tr.Get(fx.f); !ok {
		t.Fatal("Release dropped a linked inode")
	}
	checkInvariants(t, tr)
}

func TestUnlinkOpenRelease(t *testing.T) {
	fx := newFixture(t)
	tr := fx.t
	if err := tr.SetFileData(fx.f, 100, map[int64]Extent{0: ext(1, 100, 0, 100)}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Unlink(RootIno, "f", 11); err != nil {
		t.Fatal(err)
	}
	in, ok := tr.Get(fx.f)
	if !ok || in.Nlink != 0 || in.Size != 100 || len(in.Extents) != 1 {
		t.Fatalf("unlinked inode = %+v, %v", in, ok)
	}
	if _, err := tr.Lookup(RootIno, "f"); err != syscall.ENOENT {
		t.Fatalf("Lookup of unlinked name: %v", err)
	}
	// An open unlinked file may still be written.
	if err := tr.SetFileData(fx.f, 200, map[int64]Extent{0: ext(2, 200, 0, 200)}, 12); err != nil {
		t.Fatal(err)
	}
	if files, _, bytes := tr.Stats(); files != 2 || bytes != 200 {
		t.Fatalf("Stats with an open unlinked file: %d files %d bytes", files, bytes)
	}
	tr.Release(fx.f)
	if _, ok := tr.Get(fx.f); ok {
		t.Fatal("Release kept the inode")
	}
	if files, _, bytes := tr.Stats(); files != 1 || bytes != 0 {
		t.Fatalf("Stats after release: %d files %d bytes", files, bytes)
	}
	tr.Release(fx.f) // twice: no-op
	tr.Release(RootIno)
	checkInvariants(t, tr)
}

func TestRename(t *testing.T) {
	t.Run("file over file", func(t *testing.T) {
		fx := newFixture(t)
		replaced, err := fx.t.Rename(fx.d, "g", RootIno, "f", 0, 10)
		if err != nil || replaced != fx.f {
			t.Fatalf("Rename = %d, %v; want %d", replaced, err, fx.f)
		}
		if got := fx.nlink(t, fx.f); got != 0 {
			t.Fatalf("replaced nlink %d", got)
		}
		if got, _ := fx.t.Lookup(RootIno, "f"); got.Ino != fx.g || got.Ctime != 10 {
			t.Fatalf("Lookup(f) = %+v", got)
		}
		if _, err := fx.t.Lookup(fx.d, "g"); err != syscall.ENOENT {
			t.Fatalf("old name: %v", err)
		}
		for _, p := range []Ino{RootIno, fx.d} {
			if in, _ := fx.t.Get(p); in.Mtime != 10 || in.Ctime != 10 {
				t.Fatalf("parent %d times %d %d", p, in.Mtime, in.Ctime)
			}
		}
		checkInvariants(t, fx.t)
	})
	t.Run("dir over empty dir", func(t *testing.T) {
		fx := newFixture(t)
		replaced, err := fx.t.Rename(RootIno, "d", RootIno, "x", 0, 10)
		if err != nil || replaced != fx.x {
			t.Fatalf("Rename = %d, %v", replaced, err)
		}
		if got := fx.nlink(t, RootIno); got != 3 {
			t.Fatalf("root nlink %d, want 3", got)
		}
		if got, _ := fx.t.Lookup(RootIno, "x"); got.Ino != fx.d {
			t.Fatal("x is not d")
		}
		if got, _ := fx.t.Lookup(fx.d, "g"); got.Ino != fx.g {
			t.Fatal("d lost its content")
		}
		checkInvariants(t, fx.t)
	})
	t.Run("dir across parents over empty dir", func(t *testing.T) {
		fx := newFixture(t)
		if _, err := fx.t.Rename(RootIno, "x", fx.d, "e", 0, 10); err != nil {
			t.Fatal(err)
		}
		if r, d := fx.nlink(t, RootIno), fx.nlink(t, fx.d); r != 3 || d != 3 {
			t.Fatalf("root %d d %d, want 3 3", r, d)
		}
		checkInvariants(t, fx.t)
	})
	t.Run("same name", func(t *testing.T) {
		fx := newFixture(t)
		before := names(t, fx.t, RootIno)
		if r, err := fx.t.Rename(RootIno, "f", RootIno, "f", 0, 10); err != nil || r != 0 {
			t.Fatalf("Rename = %d, %v", r, err)
		}
		if got := names(t, fx.t, RootIno); !slices.Equal(got, before) {
			t.Fatalf("names %v, want %v", got, before)
		}
		if got := fx.nlink(t, fx.f); got != 1 {
			t.Fatalf("nlink %d", got)
		}
	})
	t.Run("hard link onto itself", func(t *testing.T) {
		fx := newFixture(t)
		must(t)(fx.t.Link(fx.f, RootIno, "f2", 9))
		if r, err := fx.t.Rename(RootIno, "f", RootIno, "f2", 0, 10); err != nil || r != 0 {
			t.Fatalf("Rename = %d, %v", r, err)
		}
		if got := fx.nlink(t, fx.f); got != 2 {
			t.Fatalf("nlink %d, want 2 (POSIX: nothing happens)", got)
		}
	})
	t.Run("exchange file and dir", func(t *testing.T) {
		fx := newFixture(t)
		if _, err := fx.t.Rename(fx.d, "g", RootIno, "x", RenameExchange, 10); err != nil {
			t.Fatal(err)
		}
		if got, _ := fx.t.Lookup(RootIno, "x"); got.Ino != fx.g {
			t.Fatal("x is not g")
		}
		if got, _ := fx.t.Lookup(fx.d, "g"); got.Ino != fx.x {
			t.Fatal("d/g is not x")
		}
		if r, d := fx.nlink(t, RootIno), fx.nlink(t, fx.d); r != 3 || d != 4 {
			t.Fatalf("root %d d %d, want 3 4", r, d)
		}
		checkInvariants(t, fx.t)
	})
	t.Run("exchange in one dir", func(t *testing.T) {
		fx := newFixture(t)
		if _, err := fx.t.Rename(RootIno, "f", RootIno, "d", RenameExchange, 10); err != nil {
			t.Fatal(err)
		}
		if got, _ := fx.t.Lookup(RootIno, "d"); got.Ino != fx.f {
			t.Fatal("d is not f")
		}
		checkInvariants(t, fx.t)
	})
	t.Run("deep dir move is one op pair", func(t *testing.T) {
		fx := newFixture(t)
		p := fx.e
		for range 100 {
			p = must(t)(fx.t.Mkdir(p, "n", 0o755, 0, 0, 9)).Ino
		}
		ops, _ := fx.t.takePending()
		_ = ops
		if _, err := fx.t.Rename(RootIno, "d", RootIno, "moved", 0, 10); err != nil {
			t.Fatal(err)
		}
		if ops, _ := fx.t.takePending(); len(ops) > 6 {
			t.Fatalf("rename of a deep tree journaled %d ops", len(ops))
		}
		if _, err := fx.t.Rename(RootIno, "moved", p, "loop", 0, 10); err != syscall.EINVAL {
			t.Fatalf("move into deep subtree: %v", err)
		}
		checkInvariants(t, fx.t)
	})
}

func TestSetAttr(t *testing.T) {
	fx := newFixture(t)
	tr := fx.t
	if a, ok := tr.GetAttr(fx.s); !ok || !a.IsSymlink() || a.Size != 1 {
		t.Fatalf("GetAttr(symlink) = %+v, %v", a, ok)
	}
	if _, ok := tr.GetAttr(999); ok {
		t.Fatal("GetAttr of a missing inode")
	}
	in, err := tr.SetAttr(fx.f, SetAttrIn{Mode: ptr(uint32(syscall.S_IFDIR | 0o4751)), Uid: ptr(uint32(5)), Gid: ptr(uint32(6)),
		Atime: ptr(int64(100)), Mtime: ptr(int64(200))}, 300)
	if err != nil {
		t.Fatal(err)
	}
	if in.Mode != syscall.S_IFREG|0o4751 || in.Uid != 5 || in.Gid != 6 || in.Atime != 100 || in.Mtime != 200 || in.Ctime != 300 {
		t.Fatalf("SetAttr = %+v", in)
	}
	in, _ = tr.SetAttr(fx.d, SetAttrIn{Mode: ptr(uint32(0o700))}, 301)
	if in.Mode != syscall.S_IFDIR|0o700 || in.Ctime != 301 {
		t.Fatalf("dir SetAttr = %+v", in)
	}
}

func TestTruncate(t *testing.T) {
	const c = testChunk
	fx := newFixture(t)
	tr := fx.t
	err := tr.SetFileData(fx.f, 3*c, map[int64]Extent{0: ext(1, c, 0, c), 1: ext(2, c, 0, c), 2: ext(3, c, 0, c)}, 10)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		size uint64
		want []Extent
	}{
		{3 * c, []Extent{ext(1, c, 0, c), ext(2, c, 0, c), ext(3, c, 0, c)}},
		{2*c + 1, []Extent{ext(1, c, 0, c), ext(2, c, 0, c), ext(3, c, 0, 1)}},
		{2 * c, []Extent{ext(1, c, 0, c), ext(2, c, 0, c)}},
		{c + 10, []Extent{ext(1, c, 0, c), ext(2, c, 0, 10)}},
		{5 * c, []Extent{ext(1, c, 0, c), ext(2, c, 0, 10)}}, // grows: the cut bytes stay cut
		{c, []Extent{ext(1, c, 0, c)}},
		{1, []Extent{ext(1, c, 0, 1)}},
		{0, nil},
	}
	for _, tc := range tests {
		in, err := tr.SetAttr(fx.f, SetAttrIn{Size: ptr(tc.size)}, int64(tc.size)+20)
		if err != nil {
			t.Fatal(err)
		}
		if in.Size != tc.size || !slices.Equal(in.Extents, tc.want) || in.Mtime != int64(tc.size)+20 || in.Ctime != in.Mtime {
			t.Fatalf("size %d: %+v, want extents %v", tc.size, in, tc.want)
		}
		checkInvariants(t, tr)
	}
}

func TestSetFileData(t *testing.T) {
	const c = testChunk
	fx := newFixture(t)
	tr := fx.t
	if err := tr.SetFileData(fx.f, 2*c+5, map[int64]Extent{2: ext(3, 100, 50, 5)}, 10); err != nil {
		t.Fatal(err)
	}
	in, _ := tr.Get(fx.f)
	if want := []Extent{{}, {}, ext(3, 100, 50, 5)}; !slices.Equal(in.Extents, want) || in.Size != 2*c+5 || in.Mtime != 10 || in.Ctime != 10 {
		t.Fatalf("after write: %+v", in)
	}
	// Clearing the last extent drops trailing holes; size stays.
	if err := tr.SetFileData(fx.f, 2*c+5, map[int64]Extent{2: {}}, 11); err != nil {
		t.Fatal(err)
	}
	if in, _ = tr.Get(fx.f); len(in.Extents) != 0 || in.Size != 2*c+5 {
		t.Fatalf("after clear: %+v", in)
	}
	// An extent reaching past the new size is clamped.
	if err := tr.SetFileData(fx.f, 10, map[int64]Extent{0: ext(4, c, 0, c)}, 12); err != nil {
		t.Fatal(err)
	}
	if in, _ = tr.Get(fx.f); !slices.Equal(in.Extents, []Extent{ext(4, c, 0, 10)}) {
		t.Fatalf("after clamp: %+v", in.Extents)
	}
	if f, _, b := tr.Stats(); f != 2 || b != 10 {
		t.Fatalf("Stats %d %d", f, b)
	}
	var seen []Extent
	tr.ForEachExtent(func(ino Ino, e Extent) {
		if ino != fx.f {
			t.Errorf("extent of inode %d", ino)
		}
		seen = append(seen, e)
	})
	if len(seen) != 1 {
		t.Fatalf("ForEachExtent saw %v", seen)
	}
	checkInvariants(t, tr)
}

func TestXattrs(t *testing.T) {
	fx := newFixture(t)
	tr := fx.t
	for _, n := range []string{"user.b", "user.a", "security.x"} {
		if err := tr.SetXattr(fx.d, n, []byte("v-"+n), 0, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.SetXattr(fx.d, "user.a", []byte("new"), XattrReplace, 11); err != nil {
		t.Fatal(err)
	}
	if v, err := tr.GetXattr(fx.d, "user.a"); err != nil || string(v) != "new" {
		t.Fatalf("GetXattr = %q, %v", v, err)
	}
	if err := tr.SetXattr(fx.d, "user.e", nil, 0, 12); err != nil {
		t.Fatal(err)
	}
	if v, err := tr.GetXattr(fx.d, "user.e"); err != nil || len(v) != 0 {
		t.Fatalf("empty value: %q, %v", v, err)
	}
	if err := tr.RemoveXattr(fx.d, "user.b", 13); err != nil {
		t.Fatal(err)
	}
	got, _ := tr.ListXattr(fx.d)
	if want := []string{"security.x", "user.a", "user.e"}; !slices.Equal(got, want) {
		t.Fatalf("ListXattr = %v, want %v", got, want)
	}
	if in, _ := tr.Get(fx.d); in.Ctime != 13 || len(in.Xattrs) != 3 {
		t.Fatalf("inode after xattrs: %+v", in)
	}
	// Get returns copies.
	in, _ := tr.Get(fx.d)
	in.Xattrs["user.a"][0] = 'X'
	if v, _ := tr.GetXattr(fx.d, "user.a"); string(v) != "new" {
		t.Fatal("Get shares xattr memory with the tree")
	}
}

func TestCoalescing(t *testing.T) {
	tr := NewTree(testChunk, 0, 0, 1)
	tr.takePending()
	f := must(t)(tr.Create(RootIno, "f", 0o644, 0, 0, 2)).Ino
	for i := range 100 {
		if _, err := tr.SetAttr(f, SetAttrIn{Mode: ptr(uint32(i))}, int64(i)); err != nil {
			t.Fatal(err)
		}
		if err := tr.SetFileData(f, uint64(i+1)*testChunk, map[int64]Extent{int64(i): ext(byte(i+1), testChunk, 0, testChunk)}, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	ops, _ := tr.takePending()
	// opInode f, opLink, opInode root, opExtents f.
	if len(ops) != 4 {
		t.Fatalf("100 updates of one file journaled %d ops, want 4", len(ops))
	}
	if tr.Dirty() {
		t.Fatal("dirty after takePending")
	}
}

func TestManyEntries(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 50_000
	}
	tr := NewTree(testChunk, 0, 0, 1)
	names := make([]string, n)
	for i := range n {
		names[i] = string(rune('a'+i%26)) + itoa(i)
		if _, err := tr.Create(RootIno, names[i], 0o644, 0, 0, 2); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := tr.ReadDir(RootIno)
	if err != nil || len(ents) != n {
		t.Fatalf("ReadDir: %d entries, %v", len(ents), err)
	}
	if !slices.IsSortedFunc(ents, func(a, b DirEntry) int { return cmpString(a.Name, b.Name) }) {
		t.Fatal("not sorted")
	}
	if in, err := tr.Lookup(RootIno, names[n/2]); err != nil || in.Ino == 0 {
		t.Fatalf("Lookup: %v", err)
	}
	if got := fxNlink(tr, RootIno); got != 2 {
		t.Fatalf("root nlink %d", got)
	}
}

func fxNlink(t *Tree, ino Ino) uint32 { in, _ := t.Get(ino); return in.Nlink }

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
		if i == 0 {
			return string(b)
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
