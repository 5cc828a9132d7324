package meta

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/sealfs/sealfs/crypt"
)

// Encoded batches are compressed with zstd before sealing; crypt pads the
// sealed record (Padmé), so the stored size says little about the tree.
var (
	zEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	zDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(crypt.MaxRecordSize*4))
)

// compressBatch is an encoded batch's record payload: one zstd frame.
func compressBatch(encoded []byte) []byte { return zEnc.EncodeAll(encoded, nil) }

// sealBatch seals a batch's payload (compressBatch, or a checkpoint's
// compressSnapshotLocked) as record (kind, seq).
func sealBatch(rnd io.Reader, k *crypt.Keys, kind crypt.RecordKind, seq uint64, payload []byte) ([]byte, error) {
	sealed, err := crypt.SealRecord(rnd, k.Meta, kind, seq, payload)
	if err != nil {
		return nil, fmt.Errorf("meta: seal batch %d: %w", seq, err)
	}
	return sealed, nil
}

// openBatch verifies a sealed batch or snapshot fetched for ref (its hash,
// its seal as record (kind, ref.seq)), then decompresses and decodes it. A
// failure after authentication (which only a bug or a leaked key can cause)
// wraps both crypt.ErrAuth and errCorrupt.
func openBatch(k *crypt.Keys, kind crypt.RecordKind, r ref, sealed []byte) (*batch, error) {
	d, err := openBatchDecoder(k, kind, r, sealed)
	if err != nil {
		return nil, err
	}
	b, err := d.all()
	if err != nil {
		return nil, fmt.Errorf("meta: %s: %w: %w", r.name(), crypt.ErrAuth, err)
	}
	return b, nil
}

// openBatchDecoder is openBatch up to the batch's header: its ops are
// decoded one at a time (batchDecoder.next), and a decoding error
// (batchDecoder.finish) is the caller's to wrap as openBatch does.
func openBatchDecoder(k *crypt.Keys, kind crypt.RecordKind, r ref, sealed []byte) (*batchDecoder, error) {
	if hashOf(sealed) != r.hash {
		return nil, fmt.Errorf("meta: %s: hash mismatch: %w", r.name(), crypt.ErrAuth)
	}
	payload, err := crypt.OpenRecord(k.Meta, kind, r.seq, sealed)
	if err != nil {
		return nil, fmt.Errorf("meta: %s: %w", r.name(), err)
	}
	encoded, err := zDec.DecodeAll(payload, nil)
	if err != nil {
		return nil, fmt.Errorf("meta: %s: %w: %w", r.name(), crypt.ErrAuth, corrupt("decompress: %v", err))
	}
	d, err := newBatchDecoder(encoded)
	if err == nil && (d.b.kind != kind || d.b.seq != r.seq) {
		err = corrupt("batch kind %d seq %d, want %d seq %d", d.b.kind, d.b.seq, kind, r.seq)
	}
	if err == nil && kind == crypt.KindSnapshot {
		err = checkParams(k, "checkpoint", d.b.ver() >= batchVersion2, d.b.suite, d.b.chunk)
	}
	if err != nil {
		return nil, fmt.Errorf("meta: %s: %w: %w", r.name(), crypt.ErrAuth, err)
	}
	return d, nil
}
