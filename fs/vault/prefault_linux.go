package vault

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// prefault maps in the pages of a freshly allocated buffer with one
// madvise(MADV_POPULATE_WRITE) instead of one page fault per 4 KiB when
// the socket read first writes into it. A cold read's first cache-full of
// buffers is fresh memory (about 17,000 pages for the default cache); on
// the benchmark VM a page fault costs ~15 µs of CPU, ~3.6 ms per MiB, more
// than decrypting it, and populating the same pages costs about half
// (docs/PERFORMANCE.md, "Cold read through the read-write mount"). Kernels
// before 5.14 refuse the advice: the pages then fault in as before.
func prefault(b []byte) {
	if len(b) < 2*pageSize {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	skip := int((pageSize - start%pageSize) % pageSize)
	n := (len(b) - skip) / pageSize * pageSize
	_ = unix.Madvise(b[skip:skip+n], unix.MADV_POPULATE_WRITE)
}

const pageSize = 4096
