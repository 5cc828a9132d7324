package meta

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/crypt"
)

const testChunk = 1024

// fixture builds: /f (file), /d (dir) with /d/g (file) and /d/e (empty dir),
// /s -> "f" (symlink), /x (empty dir).
type fixture struct {
	t             *Tree
	f, d, g, e, s Ino
	x             Ino
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	tr := NewTree(testChunk, 1000, 1000, 1)
	fx := &fixture{t: tr}
	fx.f = must(tb)(tr.Create(RootIno, "f", 0o644, 1000, 1000, 2)).Ino
	fx.d = must(tb)(tr.Mkdir(RootIno, "d", 0o755, 1000, 1000, 3)).Ino
	fx.g = must(tb)(tr.Create(fx.d, "g", 0o600, 1000, 1000, 4)).Ino
	fx.e = must(tb)(tr.Mkdir(fx.d, "e", 0o700, 1000, 1000, 5)).Ino
	fx.s = must(tb)(tr.Symlink(RootIno, "s", "f", 1000, 1000, 6)).Ino
	fx.x = must(tb)(tr.Mkdir(RootIno, "x", 0o755, 1000, 1000, 7)).Ino
	return fx
}

func must(tb testing.TB) func(Inode, error) Inode {
	return func(in Inode, err error) Inode {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return in
	}
}

func (fx *fixture) nlink(tb testing.TB, ino Ino) uint32 {
	tb.Helper()
	in, ok := fx.t.Get(ino)
	if !ok {
		tb.Fatalf("inode %d missing", ino)
	}
	return in.Nlink
}

func TestNewTree(t *testing.T) {
	tr := NewTree(testChunk, 7, 8, 42)
	root, ok := tr.Get(RootIno)
	if !ok || !root.IsDir() || root.Nlink != 2 || root.Uid != 7 || root.Gid != 8 || root.Mtime != 42 || root.Mode&0o7777 != 0o755 {
		t.Fatalf("root = %+v", root)
	}
	if ents, err := tr.ReadDir(RootIno); err != nil || len(ents) != 0 {
		t.Fatalf("ReadDir(root) = %v, %v", ents, err)
	}
	if f, d, b := tr.Stats(); f != 0 || d != 1 || b != 0 {
		t.Fatalf("Stats = %d %d %d", f, d, b)
	}
	if !tr.Dirty() {
		t.Fatal("a new tree must be dirty (its root is not committed)")
	}
}

func TestTreeErrors(t *testing.T) {
	name256 := ""
	for range 256 {
		name256 += "a"
	}
	name255 := name256[:255]
	tests := []struct {
		name string
		fn   func(fx *fixture) error
		want error
	}{
		{"create exists", func(fx *fixture) error { _, err := fx.t.Create(RootIno, "f", 0o644, 0, 0, 9); return err }, syscall.EEXIST},
		{"create over dir", func(fx *fixture) error { _, err := fx.t.Create(RootIno, "d", 0o644, 0, 0, 9); return err }, syscall.EEXIST},
		{"mkdir exists", func(fx *fixture) error { _, err := fx.t.Mkdir(RootIno, "s", 0o755, 0, 0, 9); return err }, syscall.EEXIST},
		{"symlink exists", func(fx *fixture) error { _, err := fx.t.Symlink(RootIno, "x", "t", 0, 0, 9); return err }, syscall.EEXIST},
		{"create in file", func(fx *fixture) error { _, err := fx.t.Create(fx.f, "a", 0o644, 0, 0, 9); return err }, syscall.ENOTDIR},
		{"create in missing", func(fx *fixture) error { _, err := fx.t.Create(999, "a", 0o644, 0, 0, 9); return err }, syscall.ENOENT},
		{"create name 256", func(fx *fixture) error { _, err := fx.t.Create(RootIno, name256, 0o644, 0, 0, 9); return err }, syscall.ENAMETOOLONG},
		{"create name 255", func(fx *fixture) error { _, err := fx.t.Create(RootIno, name255, 0o644, 0, 0, 9); return err }, nil},
		{"create empty name", func(fx *fixture) error { _, err := fx.t.Create(RootIno, "", 0o644, 0, 0, 9); return err }, syscall.EINVAL},
		{"create dot", func(fx *fixture) error { _, err := fx.t.Create(RootIno, ".", 0o644, 0, 0, 9); return err }, syscall.EINVAL},
		{"create dotdot", func(fx *fixture) error { _, err := fx.t.Mkdir(RootIno, "..", 0o755, 0, 0, 9); return err }, syscall.EINVAL},
		{"create slash", func(fx *fixture) error { _, err := fx.t.Create(RootIno, "a/b", 0o644, 0, 0, 9); return err }, syscall.EINVAL},
		{"create nul", func(fx *fixture) error { _, err := fx.t.Create(RootIno, "a\x00", 0o644, 0, 0, 9); return err }, syscall.EINVAL},
		{"create odd bytes", func(fx *fixture) error { _, err := fx.t.Create(RootIno, "\xff\n\t ", 0o644, 0, 0, 9); return err }, nil},
		{"create dir type", func(fx *fixture) error {
			_, err := fx.t.Create(RootIno, "a", syscall.S_IFDIR|0o644, 0, 0, 9)
			return err
		}, syscall.EINVAL},
		{"create reg type", func(fx *fixture) error {
			_, err := fx.t.Create(RootIno, "a", syscall.S_IFREG|0o644, 0, 0, 9)
			return err
		}, nil},
		{"create in removed dir", func(fx *fixture) error {
			if err := fx.t.Rmdir(RootIno, "x", 9); err != nil {
				return err
			}
			_, err := fx.t.Create(fx.x, "a", 0o644, 0, 0, 9)
			return err
		}, syscall.ENOENT},
		{"symlink empty target", func(fx *fixture) error { _, err := fx.t.Symlink(RootIno, "a", "", 0, 0, 9); return err }, syscall.ENOENT},
		{"symlink long target", func(fx *fixture) error {
			_, err := fx.t.Symlink(RootIno, "a", string(make([]byte, MaxSymlinkLen+1)), 0, 0, 9)
			return err
		}, syscall.ENAMETOOLONG},
		{"lookup missing", func(fx *fixture) error { _, err := fx.t.Lookup(RootIno, "nope"); return err }, syscall.ENOENT},
		{"lookup in file", func(fx *fixture) error { _, err := fx.t.Lookup(fx.f, "a"); return err }, syscall.ENOTDIR},
		{"lookup long", func(fx *fixture) error { _, err := fx.t.Lookup(RootIno, name256); return err }, syscall.ENAMETOOLONG},
		{"readdir file", func(fx *fixture) error { _, err := fx.t.ReadDir(fx.f); return err }, syscall.ENOTDIR},
		{"readdir missing", func(fx *fixture) error { _, err := fx.t.ReadDir(999); return err }, syscall.ENOENT},
		{"unlink dir", func(fx *fixture) error { _, err := fx.t.Unlink(RootIno, "d", 9); return err }, syscall.EISDIR},
		{"unlink missing", func(fx *fixture) error { _, err := fx.t.Unlink(RootIno, "nope", 9); return err }, syscall.ENOENT},
		{"unlink in file", func(fx *fixture) error { _, err := fx.t.Unlink(fx.f, "a", 9); return err }, syscall.ENOTDIR},
		{"rmdir non-empty", func(fx *fixture) error { return fx.t.Rmdir(RootIno, "d", 9) }, syscall.ENOTEMPTY},
		{"rmdir file", func(fx *fixture) error { return fx.t.Rmdir(RootIno, "f", 9) }, syscall.ENOTDIR},
		{"rmdir symlink", func(fx *fixture) error { return fx.t.Rmdir(RootIno, "s", 9) }, syscall.ENOTDIR},
		{"rmdir missing", func(fx *fixture) error { return fx.t.Rmdir(RootIno, "nope", 9) }, syscall.ENOENT},
		{"link dir", func(fx *fixture) error { _, err := fx.t.Link(fx.d, RootIno, "d2", 9); return err }, syscall.EPERM},
		{"link exists", func(fx *fixture) error { _, err := fx.t.Link(fx.f, RootIno, "s", 9); return err }, syscall.EEXIST},
		{"link missing", func(fx *fixture) error { _, err := fx.t.Link(999, RootIno, "a", 9); return err }, syscall.ENOENT},
		{"link into file", func(fx *fixture) error { _, err := fx.t.Link(fx.f, fx.g, "a", 9); return err }, syscall.ENOTDIR},
		{"link unlinked", func(fx *fixture) error {
			if _, err := fx.t.Unlink(RootIno, "f", 9); err != nil {
				return err
			}
			_, err := fx.t.Link(fx.f, RootIno, "f2", 9)
			return err
		}, syscall.ENOENT},
		{"link symlink", func(fx *fixture) error { _, err := fx.t.Link(fx.s, fx.d, "s2", 9); return err }, nil},
		{"rename missing", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "nope", RootIno, "a", 0, 9); return err }, syscall.ENOENT},
		{"rename dir over file", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "x", RootIno, "f", 0, 9); return err }, syscall.ENOTDIR},
		{"rename file over dir", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "f", RootIno, "x", 0, 9); return err }, syscall.EISDIR},
		{"rename over non-empty", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "x", RootIno, "d", 0, 9); return err }, syscall.ENOTEMPTY},
		{"rename into itself", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "d", fx.d, "d2", 0, 9); return err }, syscall.EINVAL},
		{"rename into subtree", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "d", fx.e, "d2", 0, 9); return err }, syscall.EINVAL},
		{"rename to file parent", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "x", fx.f, "a", 0, 9); return err }, syscall.ENOTDIR},
		{"rename bad new name", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "f", RootIno, "..", 0, 9); return err }, syscall.EINVAL},
		{"rename long new name", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "f", RootIno, name256, 0, 9); return err }, syscall.ENAMETOOLONG},
		{"rename noreplace", func(fx *fixture) error {
			_, err := fx.t.Rename(RootIno, "f", RootIno, "s", RenameNoReplace, 9)
			return err
		}, syscall.EEXIST},
		{"rename noreplace free", func(fx *fixture) error {
			_, err := fx.t.Rename(RootIno, "f", RootIno, "a", RenameNoReplace, 9)
			return err
		}, nil},
		{"rename exchange missing", func(fx *fixture) error {
			_, err := fx.t.Rename(RootIno, "f", RootIno, "a", RenameExchange, 9)
			return err
		}, syscall.ENOENT},
		{"rename exchange into subtree", func(fx *fixture) error { _, err := fx.t.Rename(fx.d, "e", RootIno, "d", RenameExchange, 9); return err }, syscall.EINVAL},
		{"rename both flags", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "f", RootIno, "s", 3, 9); return err }, syscall.EINVAL},
		{"rename unknown flag", func(fx *fixture) error { _, err := fx.t.Rename(RootIno, "f", RootIno, "a", 4, 9); return err }, syscall.EINVAL},
		{"rename into removed dir", func(fx *fixture) error {
			if err := fx.t.Rmdir(RootIno, "x", 9); err != nil {
				return err
			}
			_, err := fx.t.Rename(RootIno, "f", fx.x, "f", 0, 9)
			return err
		}, syscall.ENOENT},
		{"setattr missing", func(fx *fixture) error { _, err := fx.t.SetAttr(999, SetAttrIn{}, 9); return err }, syscall.ENOENT},
		{"truncate dir", func(fx *fixture) error { _, err := fx.t.SetAttr(fx.d, SetAttrIn{Size: ptr(uint64(0))}, 9); return err }, syscall.EISDIR},
		{"truncate symlink", func(fx *fixture) error { _, err := fx.t.SetAttr(fx.s, SetAttrIn{Size: ptr(uint64(0))}, 9); return err }, syscall.EINVAL},
		{"truncate too big", func(fx *fixture) error {
			_, err := fx.t.SetAttr(fx.f, SetAttrIn{Size: ptr(uint64(MaxFileSize + 1))}, 9)
			return err
		}, syscall.EFBIG},
		{"filedata dir", func(fx *fixture) error { return fx.t.SetFileData(fx.d, 0, nil, 9) }, syscall.EISDIR},
		{"filedata symlink", func(fx *fixture) error { return fx.t.SetFileData(fx.s, 0, nil, 9) }, syscall.EINVAL},
		{"filedata missing", func(fx *fixture) error { return fx.t.SetFileData(999, 0, nil, 9) }, syscall.ENOENT},
		{"filedata negative index", func(fx *fixture) error {
			return fx.t.SetFileData(fx.f, 10, map[int64]Extent{-1: ext(1, 10, 0, 10)}, 9)
		}, syscall.EINVAL},
		{"filedata extent past object", func(fx *fixture) error {
			return fx.t.SetFileData(fx.f, 10, map[int64]Extent{0: ext(1, 10, 5, 10)}, 9)
		}, syscall.EINVAL},
		{"filedata extent past chunk", func(fx *fixture) error {
			return fx.t.SetFileData(fx.f, 2*testChunk, map[int64]Extent{0: ext(1, 2*testChunk, 0, testChunk+1)}, 9)
		}, syscall.EINVAL},
		{"filedata too big", func(fx *fixture) error { return fx.t.SetFileData(fx.f, MaxFileSize+1, nil, 9) }, syscall.EFBIG},
		{"getxattr missing", func(fx *fixture) error { _, err := fx.t.GetXattr(fx.f, "user.a"); return err }, syscall.ENODATA},
		{"getxattr no inode", func(fx *fixture) error { _, err := fx.t.GetXattr(999, "user.a"); return err }, syscall.ENOENT},
		{"setxattr long name", func(fx *fixture) error { return fx.t.SetXattr(fx.f, name256, nil, 0, 9) }, syscall.ERANGE},
		{"setxattr name 255", func(fx *fixture) error { return fx.t.SetXattr(fx.f, name255, nil, 0, 9) }, nil},
		{"setxattr empty name", func(fx *fixture) error { return fx.t.SetXattr(fx.f, "", nil, 0, 9) }, syscall.ERANGE},
		{"setxattr value 64KiB", func(fx *fixture) error { return fx.t.SetXattr(fx.f, "user.a", make([]byte, 64<<10), 0, 9) }, nil},
		{"setxattr value 64KiB+1", func(fx *fixture) error { return fx.t.SetXattr(fx.f, "user.a", make([]byte, 64<<10+1), 0, 9) }, syscall.E2BIG},
		{"setxattr replace missing", func(fx *fixture) error { return fx.t.SetXattr(fx.f, "user.a", []byte("v"), XattrReplace, 9) }, syscall.ENODATA},
		{"setxattr create existing", func(fx *fixture) error {
			if err := fx.t.SetXattr(fx.f, "user.a", []byte("v"), XattrCreate, 9); err != nil {
				return err
			}
			return fx.t.SetXattr(fx.f, "user.a", []byte("w"), XattrCreate, 9)
		}, syscall.EEXIST},
		{"setxattr bad flags", func(fx *fixture) error { return fx.t.SetXattr(fx.f, "user.a", nil, 4, 9) }, syscall.EINVAL},
		{"removexattr missing", func(fx *fixture) error { return fx.t.RemoveXattr(fx.f, "user.a", 9) }, syscall.ENODATA},
		{"listxattr no inode", func(fx *fixture) error { _, err := fx.t.ListXattr(999); return err }, syscall.ENOENT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			err := tc.fn(fx)
			if tc.want == nil && err != nil || tc.want != nil && err != tc.want {
				t.Fatalf("err = %v (%#v), want %v", err, err, tc.want)
			}
			if _, ok := errors.AsType[syscall.Errno](err); err != nil && !ok {
				t.Fatalf("err %v is not a bare syscall.Errno", err)
			}
			checkInvariants(t, fx.t)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func ext(id byte, objSize, off, length uint32) Extent {
	return Extent{Object: crypt.ObjectID{id}, ObjectSize: objSize, Offset: off, Length: length}
}

// checkInvariants verifies nlink counts, parent pointers and Stats against a
// full walk of the tree.
func checkInvariants(tb testing.TB, t *Tree) {
	tb.Helper()
	t.mu.RLock()
	defer t.mu.RUnlock()
	links := map[Ino]uint32{}
	refs := map[crypt.ObjectID]int32{}
	var files, dirs, bytes uint64
	nodes := nodesView(t)
	for ino, n := range nodes {
		for _, e := range n.extents {
			if !e.IsHole() {
				refs[e.Object]++
			}
		}
		switch {
		case n.attr.IsDir():
			dirs++
			for name, c := range n.entries {
				cn := nodes[c]
				if cn == nil {
					tb.Fatalf("dir %d: entry %q -> missing inode %d", ino, name, c)
				}
				links[c]++
				if cn.attr.IsDir() {
					links[ino]++
					if cn.parent != ino {
						tb.Fatalf("dir %d: parent %d, want %d", c, cn.parent, ino)
					}
				}
			}
		case n.attr.IsRegular():
			files++
			bytes += n.attr.Size
			if !extentsFit(n.extents, n.attr.Size, t.chunk) || len(n.extents) > 0 && n.extents[len(n.extents)-1].IsHole() {
				tb.Fatalf("inode %d: extents %v do not fit size %d", ino, n.extents, n.attr.Size)
			}
		}
	}
	for ino, n := range nodes {
		want := links[ino]
		if n.attr.IsDir() && (n.attr.Nlink != 0 || ino == RootIno) {
			want += 2
			if ino != RootIno {
				want-- // the entry in the parent was counted above
			}
		}
		if ino == RootIno {
			want = 2 + links[RootIno]
		}
		if n.attr.Nlink != want {
			tb.Fatalf("inode %d (mode %o): nlink %d, want %d", ino, n.attr.Mode, n.attr.Nlink, want)
		}
	}
	if f, d, b := t.files, t.dirs, t.bytes; f != files || d != dirs || b != bytes {
		tb.Fatalf("Stats %d/%d/%d, walk %d/%d/%d", f, d, b, files, dirs, bytes)
	}
	if !maps.Equal(t.refs, refs) {
		tb.Fatalf("object references %v, walk %v", t.refs, refs)
	}
}

func names(tb testing.TB, t *Tree, dir Ino) []string {
	tb.Helper()
	ents, err := t.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, fmt.Sprintf("%s:%d", e.Name, e.Ino))
	}
	return out
}

func TestReadDirSorted(t *testing.T) {
	tr := NewTree(testChunk, 0, 0, 1)
	for _, n := range []string{"b", "a", "c", "B", "aa"} {
		must(t)(tr.Create(RootIno, n, 0o644, 0, 0, 2))
	}
	ents, err := tr.ReadDir(RootIno)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name)
		if e.Mode&syscall.S_IFMT != syscall.S_IFREG {
			t.Errorf("%s: mode %o", e.Name, e.Mode)
		}
	}
	if want := []string{"B", "a", "aa", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("ReadDir = %v, want %v", got, want)
	}
	if _, err := tr.Unlink(RootIno, "aa", 3); err != nil {
		t.Fatal(err)
	}
	must(t)(tr.Create(RootIno, "0", 0o644, 0, 0, 2))
	got = got[:0]
	ents, _ = tr.ReadDir(RootIno)
	for _, e := range ents {
		got = append(got, e.Name)
	}
	if want := []string{"0", "B", "a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("ReadDir after change = %v, want %v", got, want)
	}
}

// TestDirNamesCursor: a listing holds DirNames' slice while the folder
// changes; the tree never writes into it (an append past its end, a
// re-sort after a removal), and DirEntries skips names removed since.
func TestDirNamesCursor(t *testing.T) {
	tr := NewTree(testChunk, 1000, 1000, 1)
	for _, n := range []string{"b", "d", "f"} {
		must(t)(tr.Create(RootIno, n, 0o644, 1000, 1000, 2))
	}
	names, err := tr.DirNames(RootIno)
	if err != nil {
		t.Fatal(err)
	}
	must(t)(tr.Create(RootIno, "g", 0o644, 1000, 1000, 3)) // sorts last: appended
	must(t)(tr.Create(RootIno, "a", 0o644, 1000, 1000, 3)) // sorts first: re-sorted
	if _, err := tr.Unlink(RootIno, "d", 4); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"b", "d", "f"}) {
		t.Errorf("the listing's names changed under it: %q", names)
	}
	var got []string
	for _, e := range tr.DirEntries(RootIno, names) {
		got = append(got, e.Name)
	}
	if !slices.Equal(got, []string{"b", "f"}) {
		t.Errorf("DirEntries = %q, want b and f (d was removed)", got)
	}
	now, _ := tr.DirNames(RootIno)
	if !slices.Equal(now, []string{"a", "b", "f", "g"}) {
		t.Errorf("DirNames after the changes = %q", now)
	}
	if _, err := tr.DirNames(Ino(999)); err == nil {
		t.Errorf("DirNames of a missing inode: no error")
	}
}

// TestNeighbours: the entries around a name in listing order, and no
// answer (rather than a sort) while that order is stale.
func TestNeighbours(t *testing.T) {
	tr := NewTree(testChunk, 1000, 1000, 1)
	for _, n := range []string{"b", "d", "f", "h"} {
		must(t)(tr.Create(RootIno, n, 0o644, 1000, 1000, 2))
	}
	names := func(es []DirEntry) (out []string) {
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	for _, c := range []struct {
		name, prev string
		n          int
		next       []string
	}{
		{"b", "", 2, []string{"d", "f"}},
		{"d", "b", 5, []string{"f", "h"}},
		{"h", "f", 3, nil},
	} {
		prev, next, ok := tr.Neighbours(RootIno, c.name, c.n)
		if !ok || prev != c.prev || !slices.Equal(names(next), c.next) {
			t.Errorf("Neighbours(%q, %d) = %q, %q, %v; want %q, %q, true", c.name, c.n, prev, names(next), ok, c.prev, c.next)
		}
	}
	if _, _, ok := tr.Neighbours(RootIno, "c", 2); ok {
		t.Errorf("Neighbours of a missing name: ok")
	}
	in, _ := tr.Lookup(RootIno, "f")
	if _, _, ok := tr.Neighbours(in.Ino, "x", 2); ok {
		t.Errorf("Neighbours in a file: ok")
	}
	must(t)(tr.Create(RootIno, "a", 0o644, 1000, 1000, 3)) // sorts first: the order is stale
	if _, _, ok := tr.Neighbours(RootIno, "b", 2); ok {
		t.Errorf("Neighbours with a stale order: ok, want no answer until the next listing")
	}
	if _, err := tr.DirNames(RootIno); err != nil {
		t.Fatal(err)
	}
	if prev, next, ok := tr.Neighbours(RootIno, "b", 1); !ok || prev != "a" || !slices.Equal(names(next), []string{"d"}) {
		t.Errorf("Neighbours after a listing = %q, %q, %v; want a, [d], true", prev, names(next), ok)
	}
}

// TestFirstExtent: a file's first chunk's extent, as Get has it; nothing
// for an empty file or a folder.
func TestFirstExtent(t *testing.T) {
	tr := NewTree(testChunk, 1000, 1000, 1)
	f := must(t)(tr.Create(RootIno, "f", 0o644, 1000, 1000, 2))
	empty := must(t)(tr.Create(RootIno, "empty", 0o644, 1000, 1000, 2))
	dir := must(t)(tr.Mkdir(RootIno, "d", 0o755, 1000, 1000, 2))
	if err := tr.SetFileData(f.Ino, testChunk+10, map[int64]Extent{0: ext(1, testChunk, 0, testChunk), 1: ext(2, 10, 0, 10)}, 3); err != nil {
		t.Fatal(err)
	}
	in, _ := tr.Get(f.Ino)
	if e, ok := tr.FirstExtent(f.Ino); !ok || e != in.Extents[0] {
		t.Errorf("FirstExtent = %+v, %v; want %+v", e, ok, in.Extents[0])
	}
	for _, ino := range []Ino{empty.Ino, dir.Ino, Ino(999)} {
		if e, ok := tr.FirstExtent(ino); ok {
			t.Errorf("FirstExtent(%d) = %+v, want none", ino, e)
		}
	}
}
