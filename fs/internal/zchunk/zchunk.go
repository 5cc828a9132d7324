// Package zchunk decodes the zstd frame of a compressed chunk (format 4,
// docs/FORMAT.md "Compressed chunks"), for the readers (fs/vault, restore)
// and for check --read-data (fs/history). Decoding is in memory only.
package zchunk

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/sealfs/sealfs/crypt"
)

// ErrBadFrame is a frame that does not decode to between length and chunk
// bytes: sealed by a faulty writer (it authenticated), never file data.
var ErrBadFrame = errors.New("compressed chunk does not decode")

var decoder = sync.OnceValue(func() *zstd.Decoder {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(2*crypt.MaxObjectSize))
	return d
})

// Decode decompresses frame, which must decode to at most chunk bytes and
// at least length (the bytes the extent uses).
func Decode(frame []byte, length uint32, chunk int64) ([]byte, error) {
	out, err := decoder().DecodeAll(frame, make([]byte, 0, length))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if int64(len(out)) > chunk || len(out) < int(length) {
		return nil, fmt.Errorf("%w: %d bytes, extent of %d, chunk %d", ErrBadFrame, len(out), length, chunk)
	}
	return out, nil
}
