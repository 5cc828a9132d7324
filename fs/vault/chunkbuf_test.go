package vault

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/sealfs/sealfs/crypt"
)

// TestChunkBufModel checks chunkBuf against a plain slice under random
// writes, truncations, extensions and clones.
func TestChunkBufModel(t *testing.T) {
	const seg = 4 << 10
	const chunk = 16 * seg
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		b := newChunkBuf(seg, chunk)
		var model []byte
		for step := range 60 {
			switch op := r.IntN(10); {
			case op < 6:
				off := r.Int64N(chunk) // anywhere: a gap makes pieces
				switch r.IntN(3) {
				case 0:
					off = 0 // from the start: one contiguous buffer
				case 1:
					off = min(int64(len(model)), chunk-1) // appending
				}
				n := r.Int64N(min(chunk-off, 3*seg)) + 1
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(r.IntN(255) + 1)
				}
				b.writeAt(p, off)
				if int64(len(model)) < off+n {
					model = append(model, make([]byte, off+n-int64(len(model)))...)
				}
				copy(model[off:], p)
			case op < 8:
				k := r.Int64N(chunk)
				b.truncate(k)
				if int64(len(model)) > k {
					model = model[:k]
				}
			case op < 9:
				k := r.Int64N(chunk)
				b.extend(k)
				if int64(len(model)) < k {
					model = append(model, make([]byte, k-int64(len(model)))...)
				}
			default:
				k := r.Int64N(chunk)
				c := b.clone(k)
				want := model[:min(k, int64(len(model)))]
				if got := c.bytes(nil); !bytes.Equal(got, want) {
					t.Fatalf("seed %d step %d: clone(%d) differs", seed, step, k)
				}
				if c.allocated() > b.allocated() {
					t.Fatalf("seed %d step %d: clone holds %d bytes, the original %d", seed, step, c.allocated(), b.allocated())
				}
			}
			if b.Len() != int64(len(model)) {
				t.Fatalf("seed %d step %d: Len %d, want %d", seed, step, b.Len(), len(model))
			}
			if got := b.bytes(nil); !bytes.Equal(got, model) {
				t.Fatalf("seed %d step %d: content differs", seed, step)
			}
			off := r.Int64N(chunk)
			dst := make([]byte, r.Int64N(2*seg)+1)
			for i := range dst {
				dst[i] = 0xee
			}
			k := b.readAt(dst, off)
			var want []byte
			if off < int64(len(model)) {
				want = model[off:min(int64(len(model)), off+int64(len(dst)))]
			}
			if !bytes.Equal(dst[:k], want) {
				t.Fatalf("seed %d step %d: readAt(%d) differs", seed, step, off)
			}
		}
	}
}

// TestChunkBufScattered pins what the type is for: a chunk written in
// scattered 128 KiB blocks holds what was written, not the chunk up to
// its furthest write; one written in order is one buffer.
func TestChunkBufScattered(t *testing.T) {
	const chunk, block = 4 << 20, 128 << 10
	b := newChunkBuf(pieceSize(chunk), chunk)
	blocks := []int64{30, 2, 17, 9}
	block1 := bytes.Repeat([]byte{7}, block)
	for _, i := range blocks {
		if miss := b.missing(i*block, (i+1)*block); miss != block {
			t.Fatalf("block %d: a write would allocate %d bytes, want %d", i, miss, block)
		}
		b.writeAt(block1, i*block)
	}
	if got, want := b.allocated(), int64(len(blocks))*block; got != want {
		t.Fatalf("4 blocks of 128 KiB allocated %d bytes, want %d (a contiguous buffer: %d)", got, want, 31*block)
	}
	if b.Len() != 31*block {
		t.Fatalf("Len %d, want %d", b.Len(), 31*block)
	}
	// A sequential writer's buffer is one slice, sealed as it is.
	seq := newChunkBuf(pieceSize(chunk), chunk)
	for i := range int64(chunk / block) {
		seq.writeAt(block1, i*block)
	}
	if !seq.isContiguous() || seq.allocated() != chunk {
		t.Errorf("a chunk written in order: contiguous %v, %d bytes held; want one buffer of the chunk", seq.isContiguous(), seq.allocated())
	}
	flat := newFlatBufs(chunk)
	data, release := flat.flatten(b)
	defer release()
	for i := int64(0); i < 31; i++ {
		want := byte(0)
		for _, j := range blocks {
			if i == j {
				want = 7
			}
		}
		if data[i*block] != want || data[(i+1)*block-1] != want {
			t.Fatalf("block %d reads %d, want %d", i, data[i*block], want)
		}
	}
}

// TestPiecesSealAsFlat: a chunk held in pieces, sealed from them
// (piecesPlain), has the content id and the sealed bytes of the same
// chunk copied into one slice, trimmed and padded as put does, for piece
// sizes below, at and above a sealed segment, whatever was written where:
// the same content written in another order must dedup to the same object.
func TestPiecesSealAsFlat(t *testing.T) {
	const chunk = 16 * crypt.SegmentSize
	keys := crypt.DeriveKeys(crypt.Key{3}, crypt.SuiteAES256GCM, chunk)
	for _, seg := range []int64{4 << 10, crypt.SegmentSize, 2 * crypt.SegmentSize} {
		for seed := range uint64(40) {
			r := rand.New(rand.NewPCG(seed, uint64(seg)))
			b := newChunkBuf(seg, chunk)
			for range r.IntN(12) + 1 {
				off := r.Int64N(chunk)
				p := make([]byte, r.Int64N(min(chunk-off, 3*crypt.SegmentSize))+1)
				for i := range p {
					p[i] = byte(r.IntN(256)) // zeros too: trailing ones are trimmed
				}
				b.writeAt(p, off)
				if r.IntN(4) == 0 {
					b.truncate(r.Int64N(chunk))
				}
			}
			b.toPieces()
			data := b.bytes(nil)
			trimmed := bytes.TrimRight(data, "\x00")
			if n := b.trimmedLen(); n != int64(len(trimmed)) {
				t.Fatalf("seg %d seed %d: trimmedLen %d, want %d", seg, seed, n, len(trimmed))
			}
			if len(trimmed) == 0 {
				continue
			}
			padded := padTail(trimmed, int64(len(data)), chunk)
			wantID := crypt.ContentObjectID(keys, padded)
			want, err := crypt.SealObject(keys, wantID, padded)
			ok(t, err)
			pp := &piecesPlain{b: b, n: paddedSize(int64(len(trimmed)), chunk), scratch: make([]byte, crypt.SegmentSize)}
			if id := crypt.ContentObjectIDSegments(keys, pp.n, pp.segment); id != wantID {
				t.Fatalf("seg %d seed %d: content id %s from pieces, %s from one slice", seg, seed, id, wantID)
			}
			got, err := pp.appendSeal(nil, keys, wantID)
			ok(t, err)
			if !bytes.Equal(got, want) {
				t.Fatalf("seg %d seed %d: sealed from pieces differs from sealed from one slice", seg, seed)
			}
		}
	}
}
