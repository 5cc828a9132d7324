package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote"
)

// DefaultStageBudget bounds the sealed bytes staged on local disk when
// Options.StageBudget is zero (it is also capped at half the free space).
const DefaultStageBudget = 4 << 30

// ErrStaged is wrapped by Close (and Unmount) when the final commit failed
// but every change is kept sealed in the cache directory: the next
// read-write mount on this device uploads and commits it.
var ErrStaged = errors.New("changes stay staged on this device")

// errUploadsPending is a periodic commit that found objects still
// uploading: not a failure, the next tick tries again.
var errUploadsPending = errors.New("fs: commit deferred: data objects are still uploading")

// stager keeps sealed chunk objects in the staging area (fs/stage) until
// they are in the store, so that their plaintext memory is given back as
// soon as they are on local disk, and writes the intent log before every
// commit attempt. A commit never names an object that is not in the
// store: it waits for their uploads (see commitStaged).
type stager struct {
	fs    *Vault
	dir   *stage.Dir
	store remote.Store // the store itself (fs.opts.Store reads through the stage)
	limit int64

	mu    sync.Mutex
	objs  map[crypt.ObjectID]*stagedObj // staged, not yet uploaded
	queue []crypt.ObjectID              // waiting for an upload worker
	wake  chan struct{}                 // a queue append (buffered 1)
	bytes int64                         // sealed bytes of objs
	warn  bool                          // staging failed: fall back, logged once

	held     atomic.Int64 // objects this mount wrote to the staging area
	progress atomic.Int64 // Unix ns of the last upload that succeeded
	failing  atomic.Bool  // uploads fail: log only the first of a run
	intentMu sync.Mutex   // serialises intent writes
}

type stagedObj struct {
	size  int64         // sealed bytes on disk
	plain int64         // plaintext bytes (Progress counts those)
	done  chan struct{} // closed once the object is in the store
}

// newStager wraps fs.opts.Store so that reads of objects still staged are
// served from local disk, and starts the upload workers. Called by newFS
// before any goroutine starts.
func newStager(fs *Vault, dir *stage.Dir) *stager {
	s := &stager{
		fs: fs, dir: dir, store: fs.opts.Store, limit: fs.opts.StageBudget,
		objs: make(map[crypt.ObjectID]*stagedObj), wake: make(chan struct{}, 1),
	}
	if free := freeBytes(dir.Path()); free > 0 {
		s.limit = min(s.limit, free/2)
	}
	s.progress.Store(time.Now().UnixNano())
	fs.opts.Store = &stagedStore{Store: s.store, s: s}
	for range fs.opts.Uploads {
		fs.up.wg.Go(s.worker)
	}
	return s
}

func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize) //nolint:unconvert // uint32 on darwin
}

// stage writes a sealed object to local disk and queues its upload. It
// returns false (the caller uploads directly, from memory) when the stage
// budget is used up or the disk write fails.
func (s *stager) stage(id crypt.ObjectID, sealed []byte, plain int64) bool {
	if !s.hold(id, sealed, plain) {
		return false
	}
	s.enqueue(id)
	return true
}

// hold writes a sealed object to local disk, where it counts as staged
// (reads and commits wait for it like any staged object) while its upload
// stays with the caller, who then calls enqueue or uploadedDirectly. It
// returns false when the stage budget is used up or the disk write fails.
func (s *stager) hold(id crypt.ObjectID, sealed []byte, plain int64) bool {
	size := int64(len(sealed))
	s.mu.Lock()
	if s.bytes+size > s.limit {
		s.mu.Unlock()
		return false
	}
	s.bytes += size
	s.mu.Unlock()
	if err := s.dir.PutObject(id, sealed); err != nil {
		s.mu.Lock()
		s.bytes -= size
		warn := !s.warn
		s.warn = true
		s.mu.Unlock()
		if warn {
			s.fs.log.Warn("cannot stage data on local disk; uploading from memory", "err", err)
		}
		return false
	}
	s.mu.Lock()
	s.objs[id] = &stagedObj{size: size, plain: plain, done: make(chan struct{})}
	s.mu.Unlock()
	s.held.Add(1)
	return true
}

// add registers a recovered staged object (s.bytes already counts it) and
// queues its upload.
func (s *stager) add(id crypt.ObjectID, size, plain int64) {
	s.mu.Lock()
	s.objs[id] = &stagedObj{size: size, plain: plain, done: make(chan struct{})}
	s.mu.Unlock()
	s.enqueue(id)
}

// enqueue queues the upload of a held object.
func (s *stager) enqueue(id crypt.ObjectID) {
	s.mu.Lock()
	s.queue = append(s.queue, id)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// worker uploads queued objects one at a time until the FS closes.
func (s *stager) worker() {
	ctx := s.fs.ctx
	for {
		s.mu.Lock()
		var id crypt.ObjectID
		ok := len(s.queue) > 0
		if ok {
			id, s.queue = s.queue[0], s.queue[1:]
		}
		more := len(s.queue) > 0
		s.mu.Unlock()
		if more {
			select { // pass the wake-up on to another worker
			case s.wake <- struct{}{}:
			default:
			}
		}
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		s.upload(ctx, id)
	}
}

// upload puts one staged object. The store's retry sends it until it
// lands or the vault closes (backoff capped at Tuning.UploadBackoffMax,
// 5 s; each attempt bounded by Tuning.DirectPutTimeout): during an outage
// the object simply waits on disk. The first failure of a run is logged
// and makes new objects go to disk first (s.failing).
func (s *stager) upload(ctx context.Context, id crypt.ObjectID) {
	sealed, err := s.dir.ReadObject(id)
	if err == nil {
		pctx := remote.WithCallRetry(ctx, remote.CallRetry{Persist: true,
			AttemptTimeout: s.fs.opts.Tuning.DirectPutTimeout, MaxDelay: s.fs.opts.Tuning.UploadBackoffMax,
			OnRetry: func(err error) { s.uploadFailing(id, err) }})
		_, err = s.store.Put(pctx, layout.DataKey(id), sealed, remote.PutOptions{})
	}
	if err != nil {
		if ctx.Err() == nil {
			s.uploadFailing(id, fmt.Errorf("fs: upload staged object %s: %w", id, err))
		}
		return
	}
	s.uploadedDirectly(id)
}

// uploadFailing notes a failed upload of staged object id: logged once per
// run of failures, and new objects go to disk first meanwhile.
func (s *stager) uploadFailing(id crypt.ObjectID, err error) {
	if !s.failing.Swap(true) {
		s.fs.log.Error("uploads fail; data stays staged on local disk and is retried", "object", id.String(), "err", err)
	}
}

// uploadedDirectly records that staged object id is in the store: it
// leaves the staging area and whoever waits for it goes on.
func (s *stager) uploadedDirectly(id crypt.ObjectID) {
	s.progress.Store(time.Now().UnixNano())
	if s.failing.Swap(false) {
		s.fs.log.Info("uploads resumed")
	}
	s.mu.Lock()
	o := s.objs[id]
	delete(s.objs, id)
	s.bytes -= o.size
	s.mu.Unlock()
	if err := s.dir.RemoveObject(id); err != nil {
		s.fs.log.Warn("cannot remove an uploaded object from the staging area", "err", err)
	}
	s.fs.up.done.Add(o.plain)
	close(o.done)
}

// uploadFailed notes a failed upload from memory: until an upload
// succeeds again, objects are staged without trying first.
func (s *stager) uploadFailed(id crypt.ObjectID, err error) {
	if s.fs.ctx.Err() == nil && !s.failing.Swap(true) {
		s.fs.log.Error("uploads fail; data is staged on local disk and retried", "object", id.String(), "err", err)
	}
}

// wait returns once every object of ids that is staged is in the store.
func (s *stager) wait(ctx context.Context, ids []crypt.ObjectID) error {
	for _, id := range ids {
		s.mu.Lock()
		o := s.objs[id]
		s.mu.Unlock()
		if o == nil {
			continue
		}
		select {
		case <-o.done:
		case <-ctx.Done():
			return fmt.Errorf("fs: waiting for uploads: %w", ctx.Err())
		}
	}
	return nil
}

// uploaded reports whether none of ids is still staged.
func (s *stager) uploaded(ids []crypt.ObjectID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if s.objs[id] != nil {
			return false
		}
	}
	return true
}

// pending returns the number and sealed bytes of objects not yet uploaded.
func (s *stager) pending() (n int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.objs), s.bytes
}

// stagedStore serves reads of objects that are still staged from local
// disk; everything else goes to the store.
type stagedStore struct {
	remote.Store
	s *stager
}

func (st *stagedStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if b, ok := st.s.read(key, off, n); ok {
		return b, nil
	}
	return st.Store.GetRange(ctx, key, off, n)
}

func (st *stagedStore) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if b, ok := st.s.read(key, off, n); ok {
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	}
	return st.Store.OpenRange(ctx, key, off, n)
}

func (st *stagedStore) Get(ctx context.Context, key string) ([]byte, remote.ObjectInfo, error) {
	if b, ok := st.s.read(key, 0, -1); ok {
		return b, remote.ObjectInfo{Key: key, Size: int64(len(b))}, nil
	}
	return st.Store.Get(ctx, key)
}

// read reads a range (n < 0: all) of a staged object named by store key;
// ok is false if it is not staged (or was uploaded meanwhile).
func (s *stager) read(key string, off, n int64) ([]byte, bool) {
	id, ok := layout.ParseDataKey(key)
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	staged := s.objs[id] != nil
	s.mu.Unlock()
	if !staged {
		return nil, false
	}
	var b []byte
	var err error
	if n < 0 {
		b, err = s.dir.ReadObject(id)
	} else {
		b, err = s.dir.ReadObjectRange(id, off, n)
	}
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, false // uploaded and removed since
	}
	if err != nil {
		s.fs.log.Error("cannot read a staged object", "object", id.String(), "err", err)
		return nil, false
	}
	return b, true
}
