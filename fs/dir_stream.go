package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
)

// dirPage is how many names a listing resolves at a time.
const dirPage = 256

// dirStream lists a directory as a cursor (issue 15): it holds the tree's
// sorted names (16-byte string headers; the bytes are the tree's:
// meta.Tree.DirNames) and resolves them to entries a page at a time, so
// opening a folder of 100,000 entries builds no 100,000-entry listing of
// entries and attributes, and an entry removed while the listing
// runs is not returned after its removal. Offsets are positions in the
// stream ("." and ".." are 1 and 2), as go-fuse numbers them; Seekdir
// starts again and skips to one (telldir/seekdir, rewinddir).
type dirStream struct {
	v           *vault.Vault
	dir, parent meta.Ino

	names   []string        // the sorted names when the listing started
	next    int             // the next name to resolve
	page    []meta.DirEntry // resolved, not yet returned
	dots    int             // "." and ".." returned so far
	started bool            // start ran: the stream has its names
}

var (
	_ = (gofs.FileReaddirenter)((*dirStream)(nil))
	_ = (gofs.FileReleasedirer)((*dirStream)(nil))
	_ = (gofs.FileSeekdirer)((*dirStream)(nil))
)

// start (re)starts the listing at its beginning.
func (d *dirStream) start() error {
	names, err := d.v.DirNames(d.dir)
	if err != nil {
		return err
	}
	d.names, d.next, d.page, d.dots, d.started = names, 0, nil, 0, true
	return nil
}

// HasNext implements gofs.DirStream.
func (d *dirStream) HasNext() bool {
	if d.dots < 2 {
		return true
	}
	for len(d.page) == 0 && d.next < len(d.names) {
		end := min(d.next+dirPage, len(d.names))
		d.page = d.v.DirEntries(d.dir, d.names[d.next:end])
		d.next = end
	}
	return len(d.page) > 0
}

// Next implements gofs.DirStream.
func (d *dirStream) Next() (fuse.DirEntry, syscall.Errno) {
	switch d.dots {
	case 0:
		d.dots++
		return fuse.DirEntry{Name: ".", Ino: uint64(d.dir), Mode: syscall.S_IFDIR}, 0
	case 1:
		d.dots++
		return fuse.DirEntry{Name: "..", Ino: uint64(d.parent), Mode: syscall.S_IFDIR}, 0
	}
	e := d.page[0]
	d.page = d.page[1:]
	return fuse.DirEntry{Name: e.Name, Ino: uint64(e.Ino), Mode: e.Mode & syscall.S_IFMT}, 0
}

// Close implements gofs.DirStream.
func (d *dirStream) Close() { d.names, d.page = nil, nil }

// Readdirent implements gofs.FileReaddirenter: the next entry, nil at
// the end.
//
// The stream starts at the first request, not at opendir: the kernel may
// have served the first reads from its cache and come to us only after
// a rewinddir, which it does not tell us about (no seek to 0 on a stream
// not read yet): the folder is then listed as it is at that moment.
func (d *dirStream) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if !d.started {
		if err := d.start(); err != nil {
			return nil, toErrno(err)
		}
	}
	if !d.HasNext() {
		return nil, 0
	}
	e, errno := d.Next()
	return &e, errno
}

// Releasedir implements gofs.FileReleasedirer.
func (d *dirStream) Releasedir(ctx context.Context, flags uint32) { d.Close() }

// Seekdir implements gofs.FileSeekdirer: off entries have been read.
func (d *dirStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if err := d.start(); err != nil {
		return toErrno(err)
	}
	for ; off > 0 && d.HasNext(); off-- {
		d.Next()
	}
	return 0
}
