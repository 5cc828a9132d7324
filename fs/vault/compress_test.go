package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// chatExport is n bytes of a Telegram-style JSON chat export: repetitive
// structure, varied text; zstd makes it several times smaller.
func chatExport(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"hey", "ok", "see you at eight", "😂", "did you get the photos?", "yes", "no", "tomorrow",
		"the train is late again", "love you", "call me", "where are you", "on my way", "👍", "happy birthday!"}
	names := []string{"Alice", "Bob", "Mum", "Dad", "Sam"}
	var b bytes.Buffer
	for id := 1; b.Len() < n; id++ {
		fmt.Fprintf(&b, `{"id": %d, "type": "message", "date": "2026-12-%02dT%02d:%02d:%02d", "from": %q, "from_id": "user%d", "text": %q},`+"\n",
			id, 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), names[r.IntN(len(names))], 1000+r.IntN(5),
			words[r.IntN(len(words))]+" "+words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

// fileExtents is the extents of the file at p.
func fileExtents(t *testing.T, v *Vault, p string) []meta.Extent {
	t.Helper()
	in, err := v.lookupPath(p)
	ok(t, err)
	got, found := v.Tree().Get(in.Ino)
	if !found {
		t.Fatalf("%s: no inode %d", p, in.Ino)
	}
	return got.Extents
}

// preadAt reads len(buf) bytes at off of the file at p.
func preadAt(v *Vault, p string, buf []byte, off int64) (int, error) {
	in, err := v.lookupPath(p)
	if err != nil {
		return 0, err
	}
	f, err := v.OpenFile(in.Ino, syscall.O_RDONLY)
	if err != nil {
		return 0, err
	}
	defer f.Release()
	return f.ReadAt(context.Background(), buf, off)
}

// TestCompressRoundTrip (format 4): with Compress, a compressible file
// (a chat export) is sealed as zstd frames and uploads a fraction of its
// size; random bytes are probed, found dense, and sealed as they are
// (their upload is at least their size). Both read back byte for byte on
// another device with a cold cache, whole and at random offsets and
// lengths (across chunk and segment boundaries), and after a truncation
// into a compressed chunk; an identical copy of the compressed file
// uploads nothing (its chunks' ids are the content ids of their frames).
func TestCompressRoundTrip(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			tv, pc := dedupVault(t, s.new(t))
			text := chatExport(3*testChunk + testChunk/2 + 777)
			dense := randomBytes(t, 3*testChunk+testChunk/2)
			v := tv.open(t, func(o *Options) { o.Compress = true })
			ok(t, v.writeFile("/export/result.json", text))
			ok(t, v.Sync(context.Background()))
			textUp := pc.bytes.Load()
			ok(t, v.writeFile("/WhatsApp/msgstore.db.crypt15", dense))
			ok(t, v.Sync(context.Background()))
			denseUp := pc.bytes.Load() - textUp
			if textUp > int64(len(text))/3 {
				t.Errorf("a %d-byte chat export uploaded %d bytes; want under a third", len(text), textUp)
			}
			if denseUp < int64(len(dense)) {
				t.Errorf("%d random bytes uploaded %d: compressed?", len(dense), denseUp)
			}
			for _, e := range fileExtents(t, v.Vault, "/export/result.json") {
				if !e.Compressed() || e.Stored > e.ObjectSize || e.ObjectSize >= e.Length {
					t.Errorf("chat export extent %+v: want compressed, smaller than its data", e)
				}
			}
			for _, e := range fileExtents(t, v.Vault, "/WhatsApp/msgstore.db.crypt15") {
				if e.Compressed() {
					t.Errorf("random data extent %+v is compressed", e)
				}
			}
			before := pc.bytes.Load()
			ok(t, v.writeFile("/export/copy.json", text))
			ok(t, v.Sync(context.Background()))
			if got := pc.bytes.Load() - before; got != 0 {
				t.Errorf("an identical copy of the compressed export uploaded %d bytes; want 0", got)
			}
			v.close(t)

			r := tv.readOnly(t) // another device, cold caches, no Compress: readers follow extents
			for p, want := range map[string][]byte{"/export/result.json": text, "/export/copy.json": text, "/WhatsApp/msgstore.db.crypt15": dense} {
				wantContent(t, r.Vault, p, want)
				rnd := rand.New(rand.NewPCG(uint64(len(p)), 7))
				for range 200 {
					off := rnd.Int64N(int64(len(want)) + 10)
					buf := make([]byte, 1+rnd.IntN(3*crypt.SegmentSize))
					n, err := preadAt(r.Vault, p, buf, off)
					ok(t, err)
					end := min(off+int64(len(buf)), int64(len(want)))
					if off > end {
						end = off
					}
					if w := want[min(off, int64(len(want))):end]; !bytes.Equal(buf[:n], w) {
						t.Fatalf("%s: %d bytes at %d read wrong (%d of %d)", p, len(buf), off, n, len(w))
					}
				}
			}
			r.close(t)

			// A truncation into a compressed chunk, then growth: the cut
			// chunk reads its first bytes, zeros after.
			w := tv.open(t, func(o *Options) { o.Compress = true })
			in, err := w.lookupPath("/export/result.json")
			ok(t, err)
			cut, grown := uint64(testChunk+1000), uint64(2*testChunk)
			_, err = w.SetAttr(context.Background(), in.Ino, meta.SetAttrIn{Size: &cut})
			ok(t, err)
			_, err = w.SetAttr(context.Background(), in.Ino, meta.SetAttrIn{Size: &grown})
			ok(t, err)
			w.close(t)
			r = tv.readOnly(t)
			wantContent(t, r.Vault, "/export/result.json", append(bytes.Clone(text[:cut]), make([]byte, grown-cut)...))
		})
	}
}

// TestCompressProbeSkipsDense: data that does not shrink by a tenth is
// not compressed (compressChunk says nil), data that does is, and the
// frame decompresses to it; a frame that decodes to fewer bytes than its
// extent claims, or garbage, is ErrCorrupt.
func TestCompressProbeSkipsDense(t *testing.T) {
	if z := compressChunk(randomBytes(t, testChunk), testChunk); z != nil {
		t.Errorf("random bytes compressed to %d bytes", len(z))
	}
	// Dense at the start (the probe), compressible after: skipped.
	mixed := append(randomBytes(t, probeSize), bytes.Repeat([]byte("a"), testChunk-probeSize)...)
	if z := compressChunk(mixed, testChunk); z != nil {
		t.Errorf("data whose first 64 KiB are dense compressed to %d bytes", len(z))
	}
	text := chatExport(testChunk)
	z := compressChunk(text, testChunk)
	if z == nil {
		t.Fatal("a chat export was not compressed")
	}
	got, err := DecompressChunk(z, meta.Extent{Length: uint32(len(text)), Stored: uint32(len(z))}, testChunk)
	if err != nil || !bytes.Equal(got, text) {
		t.Errorf("DecompressChunk: %d bytes, %v", len(got), err)
	}
	if _, err := DecompressChunk(z, meta.Extent{Length: uint32(len(text)) + 1, Stored: uint32(len(z))}, testChunk); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a frame shorter than its extent: %v, want ErrCorrupt", err)
	}
	if _, err := DecompressChunk(z, meta.Extent{Length: 10, Stored: uint32(len(z))}, testChunk/2); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a frame larger than a chunk: %v, want ErrCorrupt", err)
	}
	if _, err := DecompressChunk(randomBytes(t, 100), meta.Extent{Length: 10, Stored: 100}, testChunk); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage: %v, want ErrCorrupt", err)
	}
}

// TestCompressTamper: a compressed chunk object changed in the store
// (one bit of its frame, or swapped for another compressed object) reads
// as an error, never as bytes, from any offset of the file.
func TestCompressTamper(t *testing.T) {
	forEachStore(t, func(t *testing.T, tv *testVault) {
		text := chatExport(2 * testChunk)
		other := chatExport(3 * testChunk)[2*testChunk:]
		v := tv.open(t, func(o *Options) { o.Compress = true })
		ok(t, v.writeFile("/a.json", text))
		ok(t, v.writeFile("/b.json", other))
		ok(t, v.Sync(context.Background()))
		exts := fileExtents(t, v.Vault, "/a.json")
		victim, donor := exts[1], fileExtents(t, v.Vault, "/b.json")[0]
		v.close(t)
		if !victim.Compressed() || !donor.Compressed() {
			t.Fatalf("extents not compressed: %+v, %+v", victim, donor)
		}
		ctx := context.Background()
		orig, _, err := tv.store.Get(ctx, layout.DataKey(victim.Object))
		ok(t, err)
		swapped, _, err := tv.store.Get(ctx, layout.DataKey(donor.Object))
		ok(t, err)
		flipped := bytes.Clone(orig)
		flipped[18+int(victim.Stored)/2] ^= 0x01 // inside the frame
		for name, bad := range map[string][]byte{"flipped bit": flipped, "another object": swapped} {
			_, err := tv.store.Put(ctx, layout.DataKey(victim.Object), bad, remote.PutOptions{})
			ok(t, err)
			r := tv.readOnly(t)
			for _, off := range []int64{testChunk, testChunk + 5, 2*testChunk - 100} {
				buf := make([]byte, 64)
				n, err := preadAt(r.Vault, "/a.json", buf, off)
				if err == nil || !errors.Is(err, crypt.ErrAuth) && !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: read at %d: %d bytes, %v; want an authentication error", name, off, n, err)
				}
			}
			// The untouched first chunk still reads.
			buf := make([]byte, 100)
			n, err := preadAt(r.Vault, "/a.json", buf, 10)
			if err != nil || !bytes.Equal(buf[:n], text[10:110]) {
				t.Errorf("%s: the untouched chunk: %d bytes, %v", name, n, err)
			}
			r.close(t)
		}
	})
}

// TestCompressIDOfSealedBytes: a chunk's object id is the content id of
// the bytes sealed, so the same chunk stored plain (a mount without
// Compress) and compressed (a mount with it) are two objects, never one
// id for two plaintexts; both files read back, and each mount's own copy
// deduplicates against its own kind.
func TestCompressIDOfSealedBytes(t *testing.T) {
	tv, pc := dedupVault(t, remote.NewMemory())
	text := chatExport(2 * testChunk)
	plain := tv.open(t)
	ok(t, plain.writeFile("/plain.json", text))
	plain.close(t)
	z := tv.open(t, func(o *Options) { o.Compress = true })
	before := pc.bytes.Load()
	ok(t, z.writeFile("/compressed.json", text))
	ok(t, z.Sync(context.Background()))
	if pc.bytes.Load() == before {
		t.Error("the compressed copy uploaded nothing: it took the plain object's id")
	}
	a, b := fileExtents(t, z.Vault, "/plain.json"), fileExtents(t, z.Vault, "/compressed.json")
	for i := range a {
		if a[i].Object == b[i].Object || a[i].Compressed() || !b[i].Compressed() {
			t.Errorf("chunk %d: plain %+v, compressed %+v: want two objects", i, a[i], b[i])
		}
	}
	z.close(t)
	r := tv.readOnly(t)
	wantContent(t, r.Vault, "/plain.json", text)
	wantContent(t, r.Vault, "/compressed.json", text)
}

// BenchmarkCompressChunk: what --compress costs per 4 MiB chunk: the probe
// alone on dense bytes (what every photo or sealed database chunk pays),
// and the whole compression of a chat export's chunk; beside them, the
// content id and seal every chunk pays anyway.
func BenchmarkCompressChunk(b *testing.B) {
	const chunk = 4 << 20
	dense := randomBytes(b, chunk)
	text := chatExport(chunk)
	keys := crypt.DeriveKeys(crypt.Key{1}, crypt.SuiteAES256GCM, chunk)
	for _, bc := range []struct {
		name string
		fn   func()
	}{
		{"probe-dense", func() {
			if compressChunk(dense, chunk) != nil {
				b.Fatal("compressed")
			}
		}},
		{"compress-text", func() { _ = compressChunk(text, chunk) }},
		{"id-and-seal", func() {
			id := crypt.ContentObjectID(keys, dense)
			if _, err := crypt.SealObject(keys, id, dense); err != nil {
				b.Fatal(err)
			}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(chunk)
			for b.Loop() {
				bc.fn()
			}
		})
	}
}

// TestCompressBadFrameIsDamage: a compressed chunk's object that
// authenticates but whose frame does not decode (what a faulty writer
// would seal) reads as an error, never bytes, and check --read-data names
// the file; the same vault before the swap checks clean.
func TestCompressBadFrameIsDamage(t *testing.T) {
	tv := newVault(t, remote.NewMemory(), testChunk)
	text := chatExport(testChunk)
	v := tv.open(t, func(o *Options) { o.Compress = true })
	ok(t, v.writeFile("/export.json", text))
	ok(t, v.Sync(context.Background()))
	e := fileExtents(t, v.Vault, "/export.json")[0]
	v.close(t)
	if !e.Compressed() {
		t.Fatalf("extent %+v is not compressed", e)
	}
	ctx := context.Background()
	cat := history.New(tv.store, tv.keys, history.Options{})
	chk, err := history.Check(ctx, tv.store, cat, history.CheckOptions{ReadData: true})
	ok(t, err)
	if chk.Damaged() {
		t.Fatalf("check before the swap: %+v", chk.Damage)
	}
	garbage := randomBytes(t, int(e.ObjectSize))
	sealed, err := crypt.SealObject(tv.keys, e.Object, garbage)
	ok(t, err)
	_, err = tv.store.Put(ctx, layout.DataKey(e.Object), sealed, remote.PutOptions{})
	ok(t, err)
	r := tv.readOnly(t)
	buf := make([]byte, 100)
	if n, err := preadAt(r.Vault, "/export.json", buf, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("read of an undecodable frame: %d bytes, %v; want ErrCorrupt", n, err)
	}
	r.close(t)
	chk, err = history.Check(ctx, tv.store, cat, history.CheckOptions{ReadData: true})
	ok(t, err)
	if len(chk.Damage) != 1 || chk.Damage[0].Path != "export.json" && chk.Damage[0].Path != "/export.json" {
		t.Errorf("check --read-data of an undecodable frame: %+v; want one damage of export.json", chk.Damage)
	}
}
