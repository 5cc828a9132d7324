package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote"
)

// RecoveredDir is the top directory, in the root of the mount, where a
// recovery puts files whose changes could not be committed in place.
const RecoveredDir = ".sealfs-recovered"

// Recovery says what Open found staged on this device from an earlier
// mount that did not commit everything (a crash, an unmount while the
// store was down, a writer fenced by another device).
type Recovery struct {
	// Replayed is true when the earlier mount's uncommitted changes were
	// applied as they were (nobody committed since): they are committed
	// like any other change.
	Replayed bool
	// Folder, when not empty, is where the earlier mount's files were set
	// aside ("/.sealfs-recovered/<time>"): because another writer
	// committed after it (Conflict), or because some of the data its
	// changes name is lost (see Lost), so that they could not be applied
	// as they were. Files are their paths inside the mount.
	Folder   string
	Files    []string
	Conflict bool
	// Lost are the earlier mount's files whose data is gone: an object
	// they need is neither in the store nor staged on this device (it was
	// uploaded but never committed, and deleted since, as prune does once
	// this device's lease and the grace period are over). They are not
	// recreated, not even in part; paths as they were in that mount
	// ("/dir/name").
	Lost []string
	// Written is when the earlier mount last recorded its changes, and
	// Device its device name.
	Written time.Time
	Device  string
}

// recoveryMode is what to do with an intent found at Open.
type recoveryMode int

const (
	recoverNone     recoveryMode = iota // no intent: drop staged leftovers
	recoverObsolete                     // our later commit holds it all
	recoverReplay                       // same head: apply the ops again
	recoverAside                        // head moved: set the files aside
)

type recoveryPlan struct {
	mode   recoveryMode
	intent *stage.Intent
	// missing are the objects the intent names that are neither in the
	// store nor staged: files that need one are lost.
	missing map[crypt.ObjectID]bool
}

// prepareRecovery opens the staging area of a read-write FS with a
// CacheDir (setting opts.stageDir) and, if an earlier mount left an
// intent, decides what to do with it; a replay is applied to *tree here,
// before anything else can touch it. reload loads the head's tree again
// when a replay fails halfway.
//
// The objects an intent names were in the store or staged here when it
// was written, but one uploaded from memory and never committed is
// garbage to the store's other users: once this device's lease has
// expired, a prune past the grace period deletes it. So before anything
// is applied, every object the intent names that is not staged here is
// looked up in the store (findMissing). A replay happens only when none
// is missing; otherwise the files are set aside, and a file that needs a
// missing object is reported lost instead of being recreated as a file
// that can only return EIO.
func prepareRecovery(ctx context.Context, opts *Options, tree **meta.Tree, head meta.Head, reload func() (*meta.Tree, error)) (recoveryPlan, error) {
	if opts.ReadOnly || opts.CacheDir == "" {
		return recoveryPlan{}, nil
	}
	dir, err := stage.Open(opts.CacheDir, opts.Keys.Local, opts.Rand)
	if err != nil {
		return recoveryPlan{}, fmt.Errorf("fs: open staging area: %w", err)
	}
	opts.stageDir = dir
	in, err := dir.ReadIntent()
	if err != nil {
		to, qerr := dir.Quarantine(time.Now())
		opts.Logger.Error("the intent log of an earlier mount cannot be read; it and the staged data were moved aside, untouched",
			"to", to, "err", errors.Join(err, qerr))
		return recoveryPlan{}, nil
	}
	if in == nil {
		return recoveryPlan{}, nil
	}
	plan := recoveryPlan{intent: in}
	if head.MountID == in.Writer && head.Seq > in.BaseSeq || opts.SeenMount == in.Writer && opts.SeenSeq > in.BaseSeq {
		plan.mode = recoverObsolete
		return plan, nil
	}
	if plan.missing, err = findMissing(ctx, opts.Store, dir, in); err != nil {
		return recoveryPlan{}, fmt.Errorf("fs: check that the data of an earlier mount's uncommitted changes is still there (nothing was changed; mount again once the store answers): %w", err)
	}
	switch {
	case !isBase(head, in):
		plan.mode = recoverAside
	case len(plan.missing) > 0:
		opts.Logger.Error("some data of an earlier mount's uncommitted changes is gone from the store; setting its files aside instead of applying the changes",
			"objects", len(plan.missing))
		plan.mode = recoverAside
	default:
		plan.mode = recoverReplay
		if err := (*tree).ApplyPending(in.Ops, meta.Ino(in.Next)); err != nil {
			opts.Logger.Error("the changes of an earlier mount do not apply; setting its files aside instead", "err", err)
			if *tree, err = reload(); err != nil {
				return recoveryPlan{}, err
			}
			plan.mode = recoverAside
		}
	}
	return plan, nil
}

// isBase reports whether head is the head in's changes build on: nobody
// committed since.
func isBase(head meta.Head, in *stage.Intent) bool {
	return head.Seq == in.BaseSeq && head.MountID == in.BaseMount && head.Time.UnixNano() == in.BaseTime
}

// statParallel bounds the Stat requests findMissing has in flight.
const statParallel = 8

// findMissing returns the objects in names (those of its ops and its
// files' extents) that are neither staged in dir nor in store. An error
// means the store could not tell (retried like an upload): then nothing
// may be decided, neither a replay nor a loss.
func findMissing(ctx context.Context, store remote.Store, dir *stage.Dir, in *stage.Intent) (map[crypt.ObjectID]bool, error) {
	staged, err := dir.Objects()
	if err != nil {
		return nil, fmt.Errorf("list the staging area: %w", err)
	}
	ids := map[crypt.ObjectID]bool{}
	for _, id := range in.Objects {
		ids[id] = true
	}
	for _, f := range in.Files {
		for _, e := range f.Extents {
			if !e.IsHole() {
				ids[e.Object] = true
			}
		}
	}
	var (
		mu      sync.Mutex
		missing = map[crypt.ObjectID]bool{}
		errs    []error
		wg      sync.WaitGroup
		sem     = make(chan struct{}, statParallel)
	)
	for id := range ids {
		if _, ok := staged[id]; ok {
			continue // uploaded again from here
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := store.Stat(ctx, layout.DataKey(id))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, remote.ErrNotFound):
				missing[id] = true
			case err != nil:
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("look up %d of %d objects: %w", len(errs), len(ids), errs[0])
	}
	return missing, nil
}

// finishRecovery carries out plan on the new FS: queue the staged objects
// the recovered changes need, drop the rest, set files aside if needed and
// write a fresh intent. The commit loop commits them once their objects
// are uploaded (Open does not wait for a slow store).
func (fs *Vault) finishRecovery(plan recoveryPlan) {
	s := fs.stage
	if s == nil {
		return
	}
	in := plan.intent
	var need []crypt.ObjectID
	switch plan.mode {
	case recoverReplay:
		need = in.Objects
		fs.recovery = &Recovery{Replayed: true, Written: time.Unix(0, in.Written), Device: in.Device}
		fs.log.Warn("recovered uncommitted changes of an earlier mount on this device; committing them",
			"written", fs.recovery.Written.UTC().Format(time.RFC3339), "objects", len(in.Objects))
	case recoverAside:
		need = fs.setAside(in, plan.missing)
	}
	fs.adoptStaged(need)
	if plan.mode == recoverReplay || plan.mode == recoverAside {
		fs.saveIntent()
	} else if in != nil {
		if err := s.dir.RemoveIntent(); err != nil {
			fs.log.Warn("cannot remove an obsolete intent log", "err", err)
		}
	}
}

// adoptStaged queues the uploads of the staged objects in need and removes
// every other staged object: no commit and no recovered change names it.
func (fs *Vault) adoptStaged(need []crypt.ObjectID) {
	s := fs.stage
	objs, err := s.dir.Objects()
	if err != nil {
		fs.log.Error("cannot list the staging area", "err", err)
		return
	}
	for _, id := range need {
		size, ok := objs[id]
		if !ok {
			continue // uploaded before the crash
		}
		delete(objs, id)
		plain, err := crypt.ObjectPlainSize(size)
		if err != nil {
			plain = size
		}
		s.mu.Lock()
		s.bytes += size
		s.mu.Unlock()
		fs.up.queued.Add(plain)
		s.add(id, size, plain)
	}
	for id := range objs {
		if err := s.dir.RemoveObject(id); err != nil {
			fs.log.Warn("cannot remove an unneeded staged object", "err", err)
		}
	}
}

// setAside recreates the intent's files under /.sealfs-recovered/<time>/
// (a file identical to the one now at its path is skipped, a file that
// needs a missing object is reported lost) and returns the objects they
// need.
func (fs *Vault) setAside(in *stage.Intent, missing map[crypt.ObjectID]bool) []crypt.ObjectID {
	h := fs.mlog.Head()
	written := time.Unix(0, in.Written)
	conflict := !isBase(h, in)
	rec := &Recovery{Written: written, Device: in.Device, Conflict: conflict}
	fs.recovery = rec
	var need []crypt.ObjectID
	var folder meta.Ino
	for _, f := range in.Files {
		if fs.sameAsCurrent(f) {
			continue
		}
		if slices.ContainsFunc(f.Extents, func(e meta.Extent) bool { return !e.IsHole() && missing[e.Object] }) {
			// Part of it would read as EIO: a clear loss beats a
			// file that fails later, or one with zeros in it.
			rec.Lost = append(rec.Lost, "/"+f.Path)
			continue
		}
		if folder == 0 {
			var err error
			if folder, rec.Folder, err = fs.recoveryFolder(written); err != nil {
				fs.log.Error("cannot create the recovery folder", "err", err)
				return nil
			}
		}
		if err := fs.restoreFile(folder, f); err != nil {
			fs.log.Error("cannot set a recovered file aside", "folder", rec.Folder, LogPath, f.Path, "err", err)
			continue
		}
		rec.Files = append(rec.Files, rec.Folder+"/"+f.Path)
		for _, e := range f.Extents {
			if !e.IsHole() {
				need = append(need, e.Object)
			}
		}
	}
	why := "another writer committed since"
	switch {
	case conflict:
	case len(missing) > 0:
		why = "some of the data they name is gone from the store"
	default:
		why = "they do not apply as they were"
	}
	if len(rec.Files) > 0 || len(rec.Lost) == 0 {
		fs.log.Error("an earlier mount on this device left changes that were never committed, and "+why+": its files were set aside, not merged; compare them and move what you need",
			"folder", rec.Folder, "files", len(rec.Files), "written", written.UTC().Format(time.RFC3339),
			"base_commit", in.BaseSeq, "head_commit", h.Seq, "head_device", h.Device)
	}
	if len(rec.Lost) > 0 {
		fs.log.Error("files an earlier mount on this device never committed are lost: their data is no longer in the store (uploaded, never committed, then deleted, as prune does once this device's lease and the grace period are over) and was not staged here; they were not recreated",
			LogPaths, rec.Lost, "written", written.UTC().Format(time.RFC3339), "objects_missing", len(missing))
	}
	return need
}

// sameAsCurrent reports whether the tree already has f, unchanged, at its
// path (the earlier mount's commit landed after all).
func (fs *Vault) sameAsCurrent(f stage.File) bool {
	ino := meta.RootIno
	for _, name := range strings.Split(f.Path, "/") {
		in, err := fs.tree.Lookup(ino, name)
		if err != nil {
			return false
		}
		ino = in.Ino
	}
	in, ok := fs.tree.Get(ino)
	return ok && in.IsRegular() && in.Size == f.Size && slices.Equal(in.Extents, f.Extents)
}

// recoveryFolder creates /.sealfs-recovered/<time>[-n].
func (fs *Vault) recoveryFolder(t time.Time) (meta.Ino, string, error) {
	top, err := fs.mkdirAll(meta.RootIno, RecoveredDir, 0o700)
	if err != nil {
		return 0, "", err
	}
	base := t.UTC().Format("2006-01-02T15-04-05Z")
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		in, err := fs.tree.Mkdir(top, name, 0o700, uint32(syscall.Getuid()), uint32(syscall.Getgid()), now())
		if err == nil {
			return in.Ino, "/" + RecoveredDir + "/" + name, nil
		}
		if !errors.Is(err, syscall.EEXIST) {
			return 0, "", err
		}
	}
}

// mkdirAll returns directory name in parent, creating it if needed.
func (fs *Vault) mkdirAll(parent meta.Ino, name string, mode uint32) (meta.Ino, error) {
	if in, err := fs.tree.Lookup(parent, name); err == nil {
		if !in.IsDir() {
			return 0, fmt.Errorf("a parent is not a directory: %w", syscall.ENOTDIR) // no name: errors reach the log
		}
		return in.Ino, nil
	}
	in, err := fs.tree.Mkdir(parent, name, mode, uint32(syscall.Getuid()), uint32(syscall.Getgid()), now())
	if err != nil {
		return 0, err
	}
	return in.Ino, nil
}

// restoreFile creates f under folder, with its directories.
func (fs *Vault) restoreFile(folder meta.Ino, f stage.File) error {
	parts := strings.Split(f.Path, "/")
	for _, p := range parts {
		if err := meta.CheckName(p); err != nil {
			return fmt.Errorf("bad path in the intent log: %w", err)
		}
	}
	dir := folder
	for _, p := range parts[:len(parts)-1] {
		var err error
		if dir, err = fs.mkdirAll(dir, p, 0o755); err != nil {
			return err
		}
	}
	in, err := fs.tree.Create(dir, parts[len(parts)-1], f.Mode, f.Uid, f.Gid, now())
	if err != nil {
		return err
	}
	exts := make(map[int64]meta.Extent, len(f.Extents))
	for i, e := range f.Extents {
		if !e.IsHole() {
			exts[int64(i)] = e
		}
	}
	return fs.tree.SetFileData(in.Ino, f.Size, exts, f.Mtime)
}

// Recovered returns what Open recovered from an earlier mount on this
// device, nil if nothing.
func (fs *Vault) Recovered() *Recovery { return fs.recovery }
