package vault

import (
	"sync"
	"syscall"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

// Folder read-ahead. A reader that reads the files of a folder one after
// the other in listing order (cp -a, tar, rsync, a gallery, a restore
// through the mount) waited for a GET at the start of every file: read-
// ahead within a file (File.readAhead) cannot fetch a file that is not
// open yet. When a read of a file's start has to fetch it and the file
// listed just before it in the same folder was the last one read that
// way (or it is the folder's first), the first chunks of the next files
// in listing order are fetched into the read cache in the background,
// while the reader copies this one.
//
// A reader that opens files in any other order (an application opening
// one photo, grep over a tree in its own order) starts none: it pays one
// extra Neighbours lookup per file start.

// folderAheadFiles is how many files past the one being read a sequential
// reader of a folder has fetched ahead: as many GETs in flight as the raw
// ceiling's transfers use.
const folderAheadFiles = 8

// folderAheadLimit bounds the folders remembered; past it the memory is
// cleared (a sequential reader is seen again at its next file).
const folderAheadLimit = 1024

// folderReads remembers, per folder, the file whose start was last read
// from the store.
type folderReads struct {
	mu   sync.Mutex
	last map[meta.Ino]string
}

// Named tells the engine which name in which folder h was opened by (the
// front door knows it; the engine's files are inodes, which hard links
// can give several). Reads of h then drive folder read-ahead, and the
// intent log of a commit finds the file's path by it (Tree.Paths).
func (h *File) Named(parent meta.Ino, name string) {
	h.mu.Lock()
	h.parent, h.name = parent, name
	h.mu.Unlock()
	h.f.mu.Lock()
	h.f.place = meta.Place{Parent: parent, Name: name}
	h.f.mu.Unlock()
}

// folderReadAhead runs after a read of h's start that fetched data (see
// the top of this file).
func (fs *Vault) folderReadAhead(h *File) {
	h.mu.Lock()
	parent, name := h.parent, h.name
	h.mu.Unlock()
	if parent == 0 {
		return
	}
	prev, next, ok := fs.tree.Neighbours(parent, name, folderAheadFiles)
	if !ok {
		return
	}
	r := &fs.folders
	r.mu.Lock()
	if r.last == nil || len(r.last) >= folderAheadLimit {
		r.last = make(map[meta.Ino]string)
	}
	last, seen := r.last[parent]
	r.last[parent] = name
	r.mu.Unlock()
	if prev != "" && (!seen || last != prev) {
		return // not a reader of the folder in listing order
	}
	budget := fs.maxReadAhead() / 2
	// Small files packed one after the other into one object are fetched
	// with one range request over all of them, as a cold read of one of
	// them fetches its neighbours (packReadAhead).
	var span meta.Extent
	for _, e := range next {
		if e.Mode&syscall.S_IFMT != syscall.S_IFREG {
			continue
		}
		ext, ok := fs.tree.FirstExtent(e.Ino)
		if !ok || ext.IsHole() {
			continue
		}
		if budget -= int64(ext.Length); budget < 0 {
			break
		}
		if joined, ok := joinPacked(span, ext); ok {
			span = joined
			continue
		}
		fs.prefetchExtent(span)
		span = ext
	}
	fs.prefetchExtent(span)
}

// joinPacked returns the extent spanning a and b when both are
// uncompressed parts of one object with at most packReadAhead segments
// between them.
func joinPacked(a, b meta.Extent) (meta.Extent, bool) {
	if a.IsHole() || a.Object != b.Object || a.Compressed() || b.Compressed() {
		return meta.Extent{}, false
	}
	lo := min(a.Offset, b.Offset)
	hi := max(int64(a.Offset)+int64(a.Length), int64(b.Offset)+int64(b.Length))
	gap := max(int64(b.Offset)-(int64(a.Offset)+int64(a.Length)), int64(a.Offset)-(int64(b.Offset)+int64(b.Length)))
	if gap > packReadAhead*crypt.SegmentSize {
		return meta.Extent{}, false
	}
	a.Offset, a.Length = lo, uint32(hi-int64(lo))
	return a, true
}

// prefetchExtent starts the background fetch of extent e whole (nothing
// for a hole). Of a pack it also fetches up to packReadAhead segments
// past e, as a cold read of e would: the files packed after it, which
// the reader reads next, come in the same request instead of a request
// of their own once the reader gets there.
func (fs *Vault) prefetchExtent(e meta.Extent) {
	if e.IsHole() {
		return
	}
	if !e.Compressed() && fs.packed(e) {
		end := int64(e.Offset) + int64(e.Length)
		e.Length = uint32(min(int64(e.ObjectSize), end+packReadAhead*crypt.SegmentSize) - int64(e.Offset))
	}
	fs.prefetch(piece{ext: e, n: int64(e.Length)})
}
