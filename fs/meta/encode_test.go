package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/crypt"
)

// sampleOps has one op of every kind.
func sampleOps() []*op {
	return []*op{
		{kind: opInode, ino: 2, attr: Attr{Mode: syscall.S_IFREG | 0o644, Uid: 1000, Gid: 1000, Size: 3000, Nlink: 1, Atime: -5, Mtime: 1 << 62, Ctime: 7}},
		{kind: opInode, ino: 3, attr: Attr{Mode: syscall.S_IFLNK | 0o777, Size: 6, Nlink: 1}, target: "target"},
		{kind: opLink, parent: 1, name: "a\xffb", ino: 2},
		{kind: opUnlink, parent: 1, name: "a\xffb"},
		{kind: opDrop, ino: 2},
		{kind: opSetXattr, ino: 3, name: "user.x", value: []byte{0, 1, 2}},
		{kind: opRemoveXattr, ino: 3, name: "user.x"},
		{kind: opExtents, ino: 2, nExt: 3, sets: []indexedExtent{{0, Extent{}}, {2, ext(9, 100, 10, 90)}}},
	}
}

func sampleBatch() []byte {
	return encodeBatch(nil, &batch{kind: crypt.KindJournal, seq: 300, prev: [32]byte{1, 2, 3}, ops: sampleOps()})
}

// withOp turns an encoded empty batch into one holding the raw op bytes.
func withOp(empty []byte, raw ...byte) []byte {
	return append(append(empty[:len(empty)-1:len(empty)-1], 1), raw...)
}

// TestEncodeSpecialFiles: version-2 batches carry every file type with its
// rdev; version-1 batches (format-1 vaults) still decode and re-encode to
// the same bytes.
func TestEncodeSpecialFiles(t *testing.T) {
	ops := []*op{
		{kind: opInode, ino: 2, attr: Attr{Mode: syscall.S_IFIFO | 0o640, Uid: 7, Nlink: 1, Mtime: 5}},
		{kind: opInode, ino: 3, attr: Attr{Mode: syscall.S_IFCHR | 0o600, Nlink: 2, Rdev: 1<<8 | 3}},
		{kind: opInode, ino: 4, attr: Attr{Mode: syscall.S_IFBLK | 0o660, Nlink: 1, Rdev: 8<<8 | 1}},
		{kind: opInode, ino: 5, attr: Attr{Mode: syscall.S_IFSOCK | 0o755, Nlink: 1}},
	}
	for _, v := range []byte{batchVersion2} {
		data := encodeBatch(nil, &batch{version: v, kind: crypt.KindJournal, seq: 9, ops: ops})
		b, err := decodeBatch(data)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range ops {
			if fmt.Sprint(*o) != fmt.Sprint(*b.ops[i]) {
				t.Fatalf("op %d: %+v, want %+v", i, *b.ops[i], *o)
			}
		}
		if !bytes.Equal(encodeBatch(nil, b), data) {
			t.Fatal("re-encoding differs")
		}
	}
	v1 := encodeBatch(nil, &batch{version: batchVersion1, kind: crypt.KindJournal, seq: 300, prev: [32]byte{1, 2, 3}, ops: sampleOps()})
	b, err := decodeBatch(v1)
	if err != nil {
		t.Fatalf("version-1 batch: %v", err)
	}
	if b.version != batchVersion1 || !bytes.Equal(encodeBatch(nil, b), v1) {
		t.Fatal("a version-1 batch does not re-encode to its bytes")
	}
	if bytes.Equal(v1, sampleBatch()) {
		t.Fatal("version 1 and 2 encode the same bytes")
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	data := sampleBatch()
	b, err := decodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if b.seq != 300 || b.kind != crypt.KindJournal || b.prev != [32]byte{1, 2, 3} || len(b.ops) != len(sampleOps()) {
		t.Fatalf("decoded %+v", b)
	}
	for i, o := range sampleOps() {
		if fmt.Sprint(*o) != fmt.Sprint(*b.ops[i]) {
			t.Fatalf("op %d: %+v, want %+v", i, *b.ops[i], *o)
		}
	}
	if re := encodeBatch(nil, b); !bytes.Equal(re, data) {
		t.Fatal("re-encoding differs")
	}
}

// contentExtents is an opExtents whose one extent has a content id (a
// small file packed in a shared object, format 3).
func contentExtents() *op {
	e := ext(9, 4096, 100, 50)
	e.Content = crypt.ObjectID{0xc0, 0xde}
	return &op{kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{0, e}}}
}

// TestExtentsWithContentIDs: version-3 batches carry an extent's content
// id as op 9 (byte for byte as docs/FORMAT.md shows), only when an extent
// has one; op 7 stays for extents without, and both decode to opExtents.
func TestExtentsWithContentIDs(t *testing.T) {
	with := encodeBatch(nil, &batch{version: batchVersion3, kind: crypt.KindJournal, seq: 1, ops: []*op{contentExtents()}})
	const want = "03" + "02" + "01" + "0000000000000000000000000000000000000000000000000000000000000000" +
		"01" + "09" + "02" + "01" + "01" + // op 9: ino 2, count 1, 1 set
		"00" + "09000000000000000000000000000000" + "8020" + "64" + "32" + // index 0, object, size 4096, offset 100, length 50
		"c0de0000000000000000000000000000" // content id
	if got := fmt.Sprintf("%x", with); got != want {
		t.Errorf("op 9 encodes as\n%s\nwant\n%s", got, want)
	}
	plain := &op{kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{0, ext(9, 4096, 100, 50)}}}
	without := encodeBatch(nil, &batch{version: batchVersion3, kind: crypt.KindJournal, seq: 1, ops: []*op{plain}})
	if without[opAt] != byte(opExtents) {
		t.Errorf("an extent without a content id is not op 7: %x", without)
	}
	for _, data := range [][]byte{with, without} {
		b, err := decodeBatch(data)
		if err != nil {
			t.Fatal(err)
		}
		if b.ops[0].kind != opExtents || !bytes.Equal(encodeBatch(nil, b), data) {
			t.Errorf("%x does not decode and re-encode to itself", data)
		}
	}
	if b, _ := decodeBatch(with); b.ops[0].sets[0].Content != (crypt.ObjectID{0xc0, 0xde}) {
		t.Errorf("content id lost: %+v", b.ops[0].sets[0])
	}
	defer func() {
		if recover() == nil {
			t.Error("a content id in a version-2 batch was encoded")
		}
	}()
	encodeBatch(nil, &batch{version: batchVersion2, kind: crypt.KindJournal, seq: 1, ops: []*op{contentExtents()}})
}

// opAt is where the first op of an encoded journal batch of seq 1 starts:
// after version, kind, seq, prev and the op count.
const opAt = 1 + 1 + 1 + 32 + 1

// compressedExtents is an opExtents of two extents: a compressed chunk
// (a 4096-byte frame in a 4113-byte object, 60000 bytes of data) and one
// that is not compressed (format 4).
func compressedExtents() *op {
	z := ext(9, 4113, 0, 60000)
	z.Stored = 4096
	return &op{kind: opExtents, ino: 2, nExt: 2, sets: []indexedExtent{{0, z}, {1, ext(8, 100, 0, 99)}}}
}

// TestCompressedExtents: version-4 batches carry a compressed extent's
// stored length as op 10 (byte for byte as docs/FORMAT.md shows), only
// when an extent is compressed; ops 7 and 9 stay for the others, and all
// decode to opExtents.
func TestCompressedExtents(t *testing.T) {
	with := encodeBatch(nil, &batch{kind: crypt.KindJournal, seq: 1, ops: []*op{compressedExtents()}})
	const want = "04" + "02" + "01" + "0000000000000000000000000000000000000000000000000000000000000000" +
		"01" + "0a" + "02" + "02" + "02" + // op 10: ino 2, count 2, 2 sets
		"00" + "09000000000000000000000000000000" + "9120" + "00" + "e0d403" + // index 0, object, size 4113, offset 0, length 60000
		"00000000000000000000000000000000" + "8020" + // content id (none), stored 4096
		"01" + "08000000000000000000000000000000" + "64" + "00" + "63" + // index 1, object, size 100, offset 0, length 99
		"00000000000000000000000000000000" + "00" // no content id, not compressed
	if got := fmt.Sprintf("%x", with); got != want {
		t.Errorf("op 10 encodes as\n%s\nwant\n%s", got, want)
	}
	for _, o := range []*op{contentExtents(), {kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{0, ext(9, 4096, 100, 50)}}}} {
		data := encodeBatch(nil, &batch{kind: crypt.KindJournal, seq: 1, ops: []*op{o}})
		if data[0] != batchVersion4 || data[opAt] == byte(opExtents4) {
			t.Errorf("extents without compression encode as %x", data)
		}
	}
	b, err := decodeBatch(with)
	if err != nil {
		t.Fatal(err)
	}
	if b.ops[0].kind != opExtents || !bytes.Equal(encodeBatch(nil, b), with) {
		t.Errorf("%x does not decode and re-encode to itself", with)
	}
	if got := b.ops[0].sets; got[0].Stored != 4096 || !got[0].Compressed() || got[1].Compressed() {
		t.Errorf("stored lengths lost: %+v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("a compressed extent in a version-3 batch was encoded")
		}
	}()
	encodeBatch(nil, &batch{version: batchVersion3, kind: crypt.KindJournal, seq: 1, ops: []*op{compressedExtents()}})
}

// TestDecodeStrict: each malformed input is an error wrapping errCorrupt.
func TestDecodeStrict(t *testing.T) {
	enc := func(kind crypt.RecordKind, prev byte, ops ...*op) []byte {
		return encodeBatch(nil, &batch{kind: kind, seq: 1, prev: [32]byte{prev}, ops: ops})
	}
	good := sampleBatch()
	inode := func(mode uint32, size uint64, target string) *op {
		return &op{kind: opInode, ino: 2, attr: Attr{Mode: mode, Size: size}, target: target}
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"version 5", append([]byte{5}, good[1:]...)},
		{"op 10 in a version-3 batch", append([]byte{3}, enc(crypt.KindJournal, 0, compressedExtents())[1:]...)},
		{"op 10 without a compressed extent", func() []byte {
			b := enc(crypt.KindJournal, 0, compressedExtents())
			i := opAt + 1 + 3 + 1 + 16 + 2 + 1 + 3 + 16              // op kind, ino/count/n, index, object, size, offset, length, content id
			return append(b[:i:i], append([]byte{0}, b[i+2:]...)...) // the first extent's stored length: 0
		}()},
		{"compressed hole", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 2,
			sets: []indexedExtent{{0, Extent{Stored: 5}}, {1, func() Extent { e := ext(1, 10, 0, 10); e.Stored = 4; return e }()}}})},
		{"compressed frame past object", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 1,
			sets: []indexedExtent{{0, func() Extent { e := ext(1, 100, 10, 1000); e.Stored = 91; return e }()}}})},
		{"op 9 in a version-2 batch", append([]byte{2}, enc(crypt.KindJournal, 0, contentExtents())[1:]...)},
		{"op 9 without a content id", func() []byte {
			b := enc(crypt.KindJournal, 0, contentExtents())
			clear(b[len(b)-16:]) // the only extent's content id
			return b
		}()},
		{"hole with a content id", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 2,
			sets: []indexedExtent{{0, Extent{Content: crypt.ObjectID{7}}}, {1, ext(1, 10, 0, 10)}}})},
		{"version 0", append([]byte{0}, good[1:]...)},
		{"op 1 in a version-2 batch", append([]byte{2}, encodeBatch(nil, &batch{version: 1, kind: crypt.KindJournal, seq: 1, ops: []*op{inode(syscall.S_IFREG|0o644, 0, "")}})[1:]...)},
		{"op 8 in a version-1 batch", append([]byte{1}, enc(crypt.KindJournal, 0, inode(syscall.S_IFREG|0o644, 0, ""))[1:]...)},
		{"fifo in a version-1 batch", bytes.Replace(encodeBatch(nil, &batch{version: 1, kind: crypt.KindJournal, seq: 1, ops: []*op{inode(syscall.S_IFREG|0o644, 0, "")}}),
			binary.AppendUvarint(nil, syscall.S_IFREG|0o644), binary.AppendUvarint(nil, syscall.S_IFIFO|0o644), 1)},
		{"rdev on a fifo", enc(crypt.KindJournal, 0, &op{kind: opInode, ino: 2, attr: Attr{Mode: syscall.S_IFIFO | 0o644, Rdev: 5}})},
		{"rdev on a file", enc(crypt.KindJournal, 0, &op{kind: opInode, ino: 2, attr: Attr{Mode: syscall.S_IFREG | 0o644, Rdev: 5}})},
		{"size on a socket", enc(crypt.KindJournal, 0, inode(syscall.S_IFSOCK|0o755, 3, ""))},
		{"target on a device", enc(crypt.KindJournal, 0, inode(syscall.S_IFCHR|0o600, 1, "x"))},
		{"mode type 0", enc(crypt.KindJournal, 0, inode(0o644, 0, ""))},
		{"checkpoint chunk 0", encodeBatch(nil, &batch{kind: crypt.KindSnapshot, seq: 1, suite: crypt.SuiteAES256GCM})},
		{"checkpoint chunk past max", encodeBatch(nil, &batch{kind: crypt.KindSnapshot, seq: 1, suite: crypt.SuiteAES256GCM, chunk: crypt.MaxObjectSize + 1})},
		{"kind head", append([]byte{1, byte(crypt.KindHead)}, good[2:]...)},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"truncated", good[:len(good)-1]},
		{"truncated in prev", good[:10]},
		{"unknown op", withOp(enc(crypt.KindJournal, 0), 99)},
		{"op 0", withOp(enc(crypt.KindJournal, 0), 0)},
		{"snapshot with prev", enc(crypt.KindSnapshot, 1)},
		{"non-minimal varint", func() []byte {
			b := []byte{1, byte(crypt.KindJournal), 0x81, 0x00} // seq 1 in two bytes
			b = append(b, make([]byte, 32)...)
			return append(b, 0)
		}()},
		{"op count past input", func() []byte {
			b := enc(crypt.KindJournal, 0)
			return binary.AppendUvarint(b[:len(b)-1], 1<<40)
		}()},
		{"inode 0", enc(crypt.KindJournal, 0, &op{kind: opDrop, ino: 0})},
		{"mode high bits", enc(crypt.KindJournal, 0, inode(1<<20|syscall.S_IFREG, 0, ""))},
		{"symlink without target", enc(crypt.KindJournal, 0, inode(syscall.S_IFLNK|0o777, 0, ""))},
		{"target on a file", enc(crypt.KindJournal, 0, inode(syscall.S_IFREG|0o644, 0, "x"))},
		{"symlink size", enc(crypt.KindJournal, 0, inode(syscall.S_IFLNK|0o777, 2, "x"))},
		{"size past max", enc(crypt.KindJournal, 0, inode(syscall.S_IFREG|0o644, MaxFileSize+1, ""))},
		{"uid past 32 bits", func() []byte {
			b := []byte{1, byte(crypt.KindJournal), 1}
			b = append(b, make([]byte, 32)...)
			b = append(b, 1, byte(opInode), 2, 0x80|0o44, 0x81, 0x02 /* mode */)
			return binary.AppendUvarint(b, 1<<32)
		}()},
		{"name with slash", enc(crypt.KindJournal, 0, &op{kind: opLink, parent: 1, name: "a/b", ino: 2})},
		{"name dotdot", enc(crypt.KindJournal, 0, &op{kind: opUnlink, parent: 1, name: ".."})},
		{"name 256", enc(crypt.KindJournal, 0, &op{kind: opUnlink, parent: 1, name: string(bytes.Repeat([]byte{'a'}, 256))})},
		{"empty xattr name", enc(crypt.KindJournal, 0, &op{kind: opRemoveXattr, ino: 1})},
		{"xattr value 64KiB+1", enc(crypt.KindJournal, 0, &op{kind: opSetXattr, ino: 1, name: "n", value: make([]byte, 64<<10+1)})},
		{"extent index past count", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{1, ext(1, 10, 0, 10)}}})},
		{"extents unsorted", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 5, sets: []indexedExtent{{2, ext(1, 10, 0, 10)}, {1, ext(1, 10, 0, 10)}}})},
		{"extents repeated", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 5, sets: []indexedExtent{{1, ext(1, 10, 0, 10)}, {1, ext(1, 10, 0, 10)}}})},
		{"extent past object", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{0, ext(1, 10, 5, 10)}}})},
		{"extent of length 0", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{0, ext(1, 10, 0, 0)}}})},
		{"hole with a length", enc(crypt.KindJournal, 0, &op{kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{0, Extent{Length: 1}}}})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := decodeBatch(tc.data)
			if !errors.Is(err, errCorrupt) || b != nil {
				t.Fatalf("decodeBatch = %v, %v; want errCorrupt", b, err)
			}
		})
	}
}

// TestApplyRejects: ops that decode but make no sense for the tree they
// apply to are errors, never panics or a changed tree shape.
func TestApplyRejects(t *testing.T) {
	reg := Attr{Mode: syscall.S_IFREG | 0o644, Nlink: 1}
	tests := []struct {
		name string
		ops  []*op
	}{
		{"link into missing dir", []*op{{kind: opLink, parent: 9, name: "a", ino: 1}}},
		{"link missing inode", []*op{{kind: opLink, parent: 1, name: "a", ino: 9}}},
		{"link root", []*op{{kind: opLink, parent: 1, name: "a", ino: 1}}},
		{"duplicate name", []*op{{kind: opInode, ino: 2, attr: reg}, {kind: opLink, parent: 1, name: "a", ino: 2}, {kind: opLink, parent: 1, name: "a", ino: 2}}},
		{"dir linked twice", []*op{{kind: opInode, ino: 2, attr: Attr{Mode: syscall.S_IFDIR, Nlink: 2}},
			{kind: opLink, parent: 1, name: "a", ino: 2}, {kind: opLink, parent: 1, name: "b", ino: 2}}},
		{"dir into itself", []*op{{kind: opInode, ino: 2, attr: Attr{Mode: syscall.S_IFDIR, Nlink: 2}},
			{kind: opLink, parent: 2, name: "a", ino: 2}}},
		{"unlink missing", []*op{{kind: opUnlink, parent: 1, name: "a"}}},
		{"type change", []*op{{kind: opInode, ino: 1, attr: reg}}},
		{"drop linked", []*op{{kind: opDrop, ino: 1}}},
		{"drop missing", []*op{{kind: opDrop, ino: 5}}},
		{"extents of a dir", []*op{{kind: opExtents, ino: 1, nExt: 0}}},
		{"extents past size", []*op{{kind: opInode, ino: 2, attr: reg}, {kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{0, ext(1, 10, 0, 10)}}}}},
		{"extents end in hole", []*op{{kind: opInode, ino: 2, attr: Attr{Mode: reg.Mode, Size: 5000}}, {kind: opExtents, ino: 2, nExt: 2}}},
		{"extent longer than chunk", []*op{{kind: opInode, ino: 2, attr: Attr{Mode: reg.Mode, Size: 5000}},
			{kind: opExtents, ino: 2, nExt: 1, sets: []indexedExtent{{0, ext(1, 4000, 0, 2000)}}}}},
		{"remove missing xattr", []*op{{kind: opRemoveXattr, ino: 1, name: "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTree(testChunk, 0, 0, 1)
			err := tr.applyBatch(&batch{ops: tc.ops})
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("applyBatch = %v, want errCorrupt", err)
			}
		})
	}
}

var updateSeeds = flag.Bool("meta.update-seeds", false, "rewrite testdata/fuzz/FuzzDecodeBatch seeds")

// seedBatches are real encoded batches: a snapshot of the fixture and the
// journal of its creation.
func seedBatches(tb testing.TB) [][]byte {
	fx := newFixture(tb)
	fx.t.SetFileData(fx.f, 3000, map[int64]Extent{0: ext(1, testChunk, 0, testChunk), 2: ext(2, 1000, 0, 952)}, 9)
	fx.t.SetXattr(fx.d, "user.k", []byte("v"), 0, 9)
	fx.t.Rename(fx.d, "g", RootIno, "f", 0, 10)
	ops, _ := fx.t.takePending()
	journal := encodeBatch(nil, &batch{kind: crypt.KindJournal, seq: 2, prev: [32]byte{9}, ops: ops})
	fx.t.mu.Lock()
	snap := fx.t.encodeSnapshotLocked(3, crypt.SuiteAES256GCM)
	fx.t.mu.Unlock()
	return [][]byte{journal, snap, sampleBatch()}
}

func FuzzDecodeBatch(f *testing.F) {
	seeds := seedBatches(f)
	if *updateSeeds {
		dir := filepath.Join("testdata", "fuzz", "FuzzDecodeBatch")
		os.MkdirAll(dir, 0o755)
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			if b != nil || !errors.Is(err, errCorrupt) {
				t.Fatalf("decodeBatch = %v, %v", b, err)
			}
			return
		}
		if re := encodeBatch(nil, b); !bytes.Equal(re, data) {
			t.Fatalf("accepted input re-encodes differently:\n%x\n%x", data, re)
		}
		// Applying must not panic either, onto nothing or a small tree.
		newEmptyTree(testChunk).applyBatch(b)
		newFixture(t).t.applyBatch(b)
	})
}

func FuzzDecodeHead(f *testing.F) {
	h := &headRecord{seq: 9, time: 5, device: "d", mountID: "m", nextIno: 40,
		snapshot: ref{seq: 3, key: "meta/0000000000000003-0badf00d.snap"},
		journal:  []ref{{seq: 4, key: "meta/0000000000000004-00000000.jrnl"}}}
	f.Add(encodeHead(h))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := decodeHead(data)
		if err != nil {
			if h != nil {
				t.Fatal("result with an error")
			}
			return
		}
		if re := encodeHead(h); !bytes.Equal(re, data) {
			t.Fatalf("accepted head re-encodes differently")
		}
	})
}
