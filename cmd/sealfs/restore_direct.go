package main

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Restore writes the bytes of all but tiny files with direct I/O when the
// destination is on a local disk file system that takes it (Linux:
// O_DIRECT on ext4, XFS, Btrfs, F2FS; directFS). An ordinary
// write copies every byte into the page cache and the fsync before the
// rename then writes it out from there: measured on a restore of a
// 2.6 GiB backup, that copy alone was 30 % of the restore's CPU, more
// than decrypting (docs/PERFORMANCE.md, "Restore writes past the page
// cache"). A direct write hands the disk the process's own buffer.
//
// Direct writes need aligned buffers, offsets and lengths. A part of a
// file starts at a chunk boundary (a multiple of 64 KiB), so the bytes
// are gathered in order into an aligned buffer (stage) and written in
// whole blocks; the part's end is padded with zeros to the next block,
// which is either inside the chunk (where the file reads as zeros
// anyway: an extent's bytes past its length are zeros) or past the file's
// end, cut off by a truncate to the file's size before the file is
// synced. A file system that refuses a direct open or write gets the
// same bytes through an ordinary write, and no further direct opens.

const (
	directAlign = 4096     // offsets, lengths and buffer addresses of direct writes
	directBuf   = 1 << 20  // bytes a stage gathers before it writes
	directMin   = 64 << 10 // smaller files are written ordinarily: little to copy, and a direct write waits for the disk
)

// directWrite writes a block through a direct handle (a test refuses it).
var directWrite = (*os.File).WriteAt

// directOff is set when DEST's file system is not one direct writes suit
// (directFS), and once a direct open or write was refused (a file system
// that does not take direct I/O, or not with this alignment).
var directOff atomic.Bool

// directUsable reports whether a file of size bytes is written directly.
func directUsable(size int64) bool {
	return oDirect != 0 && size >= directMin && !directOff.Load()
}

// directRefused reports whether err is a file system refusing direct I/O.
func directRefused(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP)
}

var stageBufs = sync.Pool{New: func() any {
	b := make([]byte, directBuf+directAlign)
	skew := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if skew != 0 {
		skew = directAlign - skew
	}
	b = b[skew : skew+directBuf : skew+directBuf]
	return &b
}}

// stage gathers one part's bytes, in file order, for direct writes.
type stage struct {
	buf *[]byte // aligned, directBuf bytes, from stageBufs
	n   int     // bytes gathered
	off int64   // file offset of buf[0]
}

func newStage(off int64) *stage {
	return &stage{buf: stageBufs.Get().(*[]byte), off: off}
}

// release gives the buffer back; the stage is not used again.
func (s *stage) release() {
	if s.buf != nil {
		stageBufs.Put(s.buf)
		s.buf = nil
	}
}

// add appends b and writes every full buffer with flush (whole blocks at
// aligned offsets). It stops at flush's first error.
func (s *stage) add(b []byte, flush func(block []byte, off int64, n int) error) error {
	for len(b) > 0 {
		c := copy((*s.buf)[s.n:], b)
		s.n += c
		b = b[c:]
		if s.n == directBuf {
			if err := flush(*s.buf, s.off, s.n); err != nil {
				return err
			}
			s.off += int64(s.n)
			s.n = 0
		}
	}
	return nil
}

// end writes what is left, padded with zeros to a whole block; flush
// gets the padded block and the true length. The stage is then released.
func (s *stage) end(flush func(block []byte, off int64, n int) error) error {
	if s.n == 0 {
		return nil
	}
	padded := (s.n + directAlign - 1) &^ (directAlign - 1)
	clear((*s.buf)[s.n:padded])
	return flush((*s.buf)[:padded], s.off, s.n)
}
