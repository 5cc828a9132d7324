package remote

import (
	"errors"
	"io"
	"sync"
)

// errBodyReturned is what a request body read after its Put returned
// gets: the buffer is the caller's again.
var errBodyReturned = errors.New("remote: request body read after its put returned")

// loan lends the bytes of a Put to the HTTP client until Put returns.
// net/http may still read a request body after RoundTrip returned
// (http.RoundTripper's contract; golang/go#51907): when the server
// answers before it has read the whole body (an error, a failed
// condition), the transport's writer can go on reading it. A caller of
// Put may reuse its buffer once Put has returned (fs/vault seals the
// next object into it), so every reader of a loan fails, touching
// nothing, once the loan is ended.
type loan struct {
	mu    sync.Mutex
	data  []byte
	ended bool
}

// end takes the bytes back: it waits for a read in progress, and every
// read after it fails.
func (l *loan) end() {
	l.mu.Lock()
	l.ended, l.data = true, nil
	l.mu.Unlock()
}

// reader returns a reader of the loaned bytes from their start (for
// minio-go, which reads with ReadAt and Seek, and net/http's GetBody).
func (l *loan) reader() *loanReader { return &loanReader{l: l} }

type loanReader struct {
	l   *loan
	off int64
}

func (r *loanReader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *loanReader) ReadAt(p []byte, off int64) (int, error) {
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return 0, errBodyReturned
	}
	if off < 0 {
		return 0, errors.New("remote: negative offset")
	}
	if off >= int64(len(l.data)) {
		return 0, io.EOF
	}
	n := copy(p, l.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *loanReader) Seek(offset int64, whence int) (int64, error) {
	r.l.mu.Lock()
	size := int64(len(r.l.data))
	ended := r.l.ended
	r.l.mu.Unlock()
	if ended {
		return 0, errBodyReturned
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += size
	default:
		return 0, errors.New("remote: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("remote: negative position")
	}
	r.off = offset
	return offset, nil
}
