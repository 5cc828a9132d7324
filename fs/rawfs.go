package fs

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
)

// rawFS serves the vault on go-fuse's raw protocol API: the kernel's node
// id of an inode is its number in the vault (meta.Ino; the root is 1 in
// both), and inode numbers are never handed out twice, so the FUSE side
// keeps nothing per inode the kernel knows. go-fuse's node API kept an
// object of about 500 bytes for each of them (with its name and its place
// among its parent's children), more than the vault's own tree holds per
// entry (about 180 bytes): a find or du of a million files left 500 MB in
// the mount process until the kernel forgot them (issue 15;
// docs/PERFORMANCE.md, "The FUSE side without a node per entry").
//
// What is kept is per open file and folder (handles), the names recently
// looked up (recent: the name an opened file goes by, for read-ahead
// across a folder and the intent log), and, on a following mount only,
// the inodes the kernel holds, whose cached state invalidate drops when
// the writer's newer tree arrives.
type rawFS struct {
	fuse.RawFileSystem // ENOSYS for what sealfs does not implement

	v      *vault.Vault
	server *fuse.Server // set by Init, before the first request

	entryTimeout, attrTimeout, negativeTimeout time.Duration

	files handles[*handle]
	dirs  handles[*dirStream]

	recentMu     sync.Mutex
	recent, prev map[meta.Ino]meta.Place // names recently handed out; prev: the generation before

	// known counts the kernel's lookups of each inode (FORGET takes them
	// back); kept only by a following mount (nil otherwise).
	knownMu sync.Mutex
	known   map[meta.Ino]uint64

	// entries counts the entries handed to the kernel with a node id (a
	// lookup each, for the kernel): TestReaddirPlusAuto reads it.
	entries atomic.Uint64
}

// recentNames bounds rawFS.recent: an open follows its lookup or create
// closely (cp, tar, rsync, an app opening a file by its path), so tens of
// thousands of names cover concurrent openers; when full, the map becomes
// the previous generation and a new one starts (at most 2 × 32,768 names,
// a few MiB).
const recentNames = 32 << 10

func newRawFS(v *vault.Vault) *rawFS {
	r := &rawFS{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		v:             v,
		recent:        make(map[meta.Ino]meta.Place),
	}
	r.entryTimeout, r.attrTimeout, r.negativeTimeout = kernelTimeouts(v)
	r.files.init()
	r.dirs.init()
	if v.Following() {
		r.known = map[meta.Ino]uint64{meta.RootIno: 1}
	}
	return r
}

func (r *rawFS) String() string { return "sealfs" }

// Init implements fuse.RawFileSystem: the server is how invalidate
// talks to the kernel.
func (r *rawFS) Init(s *fuse.Server) { r.server = s }

// reqContext is a request's context: go-fuse's carries the caller and the
// kernel's interrupt.
func reqContext(h *fuse.InHeader, cancel <-chan struct{}) *fuse.Context {
	return &fuse.Context{Caller: h.Caller, Cancel: cancel}
}

// status converts an engine error to the FUSE reply.
func status(err error) fuse.Status { return fuse.Status(toErrno(err)) }

// entry fills out for inode in, whose node id the kernel will hold: one
// lookup, which a FORGET takes back.
func (r *rawFS) entry(in meta.Inode, out *fuse.EntryOut) {
	out.NodeId = uint64(in.Ino)
	out.Generation = 0 // inode numbers are never reused
	fillAttr(&out.Attr, in)
	out.SetEntryTimeout(r.entryTimeout)
	out.SetAttrTimeout(r.attrTimeout)
	r.entries.Add(1)
	if r.known != nil {
		r.knownMu.Lock()
		r.known[in.Ino]++
		r.knownMu.Unlock()
	}
}

// Forget implements fuse.RawFileSystem: the kernel dropped nlookup of its
// lookups of nodeid.
func (r *rawFS) Forget(nodeid, nlookup uint64) {
	if r.known == nil {
		return
	}
	ino := meta.Ino(nodeid)
	r.knownMu.Lock()
	if n := r.known[ino]; n <= nlookup && ino != meta.RootIno {
		delete(r.known, ino)
	} else if ino != meta.RootIno {
		r.known[ino] = n - nlookup
	}
	r.knownMu.Unlock()
}

// knownInodes returns the inodes the kernel holds (following mounts).
func (r *rawFS) knownInodes() []meta.Ino {
	r.knownMu.Lock()
	defer r.knownMu.Unlock()
	inos := make([]meta.Ino, 0, len(r.known))
	for ino := range r.known {
		inos = append(inos, ino)
	}
	return inos
}

// named fills out for inode in, handed to the kernel as name in
// folder dir, and remembers the name for its opens.
func (r *rawFS) named(in meta.Inode, dir meta.Ino, name string, out *fuse.EntryOut) {
	r.remember(in.Ino, meta.Place{Parent: dir, Name: name})
	r.entry(in, out)
}

// renamed remembers the inode now at name in dir by that name.
func (r *rawFS) renamed(dir meta.Ino, name string) {
	if in, err := r.v.Lookup(dir, name); err == nil {
		r.remember(in.Ino, meta.Place{Parent: dir, Name: name})
	}
}

func (r *rawFS) remember(ino meta.Ino, at meta.Place) {
	r.recentMu.Lock()
	if len(r.recent) >= recentNames {
		r.prev, r.recent = r.recent, make(map[meta.Ino]meta.Place, recentNames)
	}
	r.recent[ino] = at
	r.recentMu.Unlock()
}

// placeOf is the name ino was last handed out by, if still remembered.
// The name may have changed since: the vault checks it against the
// folder before relying on it.
func (r *rawFS) placeOf(ino meta.Ino) (meta.Place, bool) {
	r.recentMu.Lock()
	defer r.recentMu.Unlock()
	if p, ok := r.recent[ino]; ok {
		return p, true
	}
	p, ok := r.prev[ino]
	return p, ok
}

// handles is a table of open files or folders by the handle number the
// kernel passes back.
type handles[T any] struct {
	mu   sync.Mutex
	m    map[uint64]T
	next uint64
}

func (t *handles[T]) init() { t.m = make(map[uint64]T) }

func (t *handles[T]) add(v T) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	t.m[t.next] = v
	return t.next
}

// get returns handle fh; ok is false for a handle the kernel never got
// (EBADF).
func (t *handles[T]) get(fh uint64) (v T, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok = t.m[fh]
	return v, ok
}

func (t *handles[T]) remove(fh uint64) (v T, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok = t.m[fh]
	delete(t.m, fh)
	return v, ok
}

// caller returns the uid and gid of the process making the request.
func caller(h *fuse.InHeader) (uid, gid uint32) { return h.Uid, h.Gid }

// callerProcess is the thread group (process id) of the thread that sent
// the request, 0 if unknown. FUSE names the calling thread.
func callerProcess(h *fuse.InHeader) int {
	if h.Pid == 0 {
		return 0
	}
	return threadGroup(int(h.Pid))
}

// errnoStatus is a plain errno as a reply.
func errnoStatus(e syscall.Errno) fuse.Status { return fuse.Status(e) }
