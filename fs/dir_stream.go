package fs

import (
	"sync"
	"syscall"

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
// entries and attributes, and an entry removed while the listing runs is
// not returned after its removal. Offsets are positions in the stream
// ("." and ".." are 1 and 2); a read at another offset than where the
// last one ended (telldir/seekdir, rewinddir, a read the kernel
// interrupted) starts again and skips to it.
type dirStream struct {
	v           *vault.Vault
	dir, parent meta.Ino

	mu      sync.Mutex      // the kernel may read a handle from two threads
	names   []string        // the sorted names when the listing started
	next    int             // the next name to resolve
	page    []meta.DirEntry // resolved, not yet returned
	dots    int             // "." and ".." returned so far
	off     uint64          // entries returned since the start
	started bool            // start ran: the stream has its names
}

// start (re)starts the listing at its beginning.
func (d *dirStream) start() error {
	names, err := d.v.DirNames(d.dir)
	if err != nil {
		return err
	}
	d.names, d.next, d.page, d.dots, d.off, d.started = names, 0, nil, 0, 0, true
	return nil
}

// peek returns the next entry without taking it; ok is false at the end.
func (d *dirStream) peek() (e fuse.DirEntry, ok bool) {
	switch d.dots {
	case 0:
		return fuse.DirEntry{Name: ".", Ino: uint64(d.dir), Mode: syscall.S_IFDIR}, true
	case 1:
		return fuse.DirEntry{Name: "..", Ino: uint64(d.parent), Mode: syscall.S_IFDIR}, true
	}
	for len(d.page) == 0 && d.next < len(d.names) {
		end := min(d.next+dirPage, len(d.names))
		d.page = d.v.DirEntries(d.dir, d.names[d.next:end])
		d.next = end
	}
	if len(d.page) == 0 {
		return fuse.DirEntry{}, false
	}
	de := d.page[0]
	return fuse.DirEntry{Name: de.Name, Ino: uint64(de.Ino), Mode: de.Mode & syscall.S_IFMT}, true
}

// take moves past the entry peek returned.
func (d *dirStream) take() {
	if d.dots < 2 {
		d.dots++
	} else {
		d.page = d.page[1:]
	}
	d.off++
}

// read fills out with the entries from offset on, as many as fit. plus,
// if not nil, fills each entry's attributes (READDIRPLUS; not for "."
// and "..", whose the kernel ignores).
//
// The stream starts at the first read, not at opendir: the kernel may
// have served the first reads from its cache and come to us only after a
// rewinddir, which it does not tell us about (no seek to 0 on a stream
// not read yet): the folder is then listed as it is at that moment.
func (d *dirStream) read(offset uint64, out *fuse.DirEntryList, plus func(meta.DirEntry, *fuse.EntryOut)) fuse.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started || offset != d.off {
		if err := d.start(); err != nil {
			return status(err)
		}
		for d.off < offset {
			if _, ok := d.peek(); !ok {
				break
			}
			d.take()
		}
	}
	for {
		e, ok := d.peek()
		if !ok {
			return fuse.OK
		}
		e.Off = d.off + 1
		if plus == nil {
			if !out.AddDirEntry(e) {
				return fuse.OK
			}
		} else {
			eo := out.AddDirLookupEntry(e)
			if eo == nil {
				return fuse.OK
			}
			if d.dots == 2 {
				plus(d.page[0], eo)
			}
		}
		d.take()
	}
}

// close drops the names.
func (d *dirStream) close() {
	d.mu.Lock()
	d.names, d.page = nil, nil
	d.mu.Unlock()
}
