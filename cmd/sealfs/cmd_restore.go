package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
	"github.com/sealfs/sealfs/remote"
)

type restoreOptions struct {
	readOptions
	parallel int // 0: restoreParallel of the vault's chunk size
}

// restoreParallel is how many range requests download at once unless
// --parallel says: 16 with chunks of up to 4 MiB (with direct writes a
// download also waits for its disk writes, and 16 overlapped them better
// than 8: docs/PERFORMANCE.md, "Restore writes past the page cache"),
// fewer with bigger chunks, so that the downloads' buffers stay near
// 64 MiB.
func restoreParallel(chunkSize int64) int {
	return int(min(max(64<<20/chunkSize, 2), 16))
}

func (a *app) restoreCommand() *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore STORE DEST [PATH...]",
		Short: "Copy files out of the vault into DEST, without FUSE",
		Long: `restore recreates the vault's files (or only the PATHs given, files or folders,
relative to the vault's root) under the local folder DEST: folders, files,
symbolic links, hard links, permissions and modification times, and owners
when run as root. It needs no FUSE and never writes to the store: it takes no
writer lease, so it runs while another device has the vault mounted. It shows
the latest commit, or with --snapshot a past snapshot.

Every byte is authenticated before it is written. A file whose data does not
authenticate (damaged or tampered with) or is missing from the store is named
on a "damaged:" line and not created; all the other files are restored, and
restore exits 12.

restore can be run again to finish an interrupted restore: a file already in
DEST with the vault's size and modification time (to the nanosecond) is
skipped without reading its content; anything else is downloaded again. A file
is written as DEST/.../.NAME.sealfs-partial and renamed into place only once it
is complete and synced, so a file with its final name is never partial.

Data is downloaded by object, each written straight into the files it
holds: a pack of small files is fetched once for all of them, and up to
--parallel range requests (of at most a chunk each, 4 MiB by default) run
at once, so memory stays bounded (about one chunk per download) and no
byte is fetched twice. Files of 64 KiB or more are written with direct I/O
on local disk file systems (Linux: ext4, XFS, Btrfs, F2FS), past the page
cache.

Exit codes: 0 everything restored, 12 damaged files were named (the rest was
restored), 1 restore could not finish (for example the store or DEST failed;
run it again), 2 usage, 10 wrong passphrase or recovery key.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErr("restore needs STORE and DEST (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("parallel") {
				o.parallel = 0 // the default: by the vault's chunk size
			} else if o.parallel < 1 || o.parallel > 64 {
				return usageErr("--parallel %d is out of range: use 1 to 64", o.parallel)
			}
			return a.runRestore(cmd.Context(), args[0], args[1], args[2:], o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().IntVar(&o.parallel, "parallel", 16, "how many range requests (of up to a chunk each) download at once (by default fewer with chunks over 4 MiB)")
	return cmd
}

// restoreItem is one name to recreate under DEST.
type restoreItem struct {
	rel string // path inside the vault and under DEST, "/" separated
	in  meta.Inode
}

// restoreStats count what a restore did.
type restoreStats struct {
	files, dirs, links, hardlinks, skipped atomic.Int64
	bytes                                  atomic.Int64 // bytes downloaded and written
	restored                               atomic.Int64 // bytes of the files restored
}

// restorer recreates a vault's names under DEST.
type restorer struct {
	a     *app
	r     *reader
	root  *os.Root
	dest  string
	owner bool // run as root: restore owners too
	stats restoreStats

	mu      sync.Mutex
	damaged []string // "PATH: why", files whose data does not authenticate
	failed  []string // "PATH: why", anything else that could not be restored
	broken  map[string]bool
}

func (a *app) runRestore(ctx context.Context, location, dest string, paths []string, o restoreOptions) error {
	r, err := a.openReader(ctx, location, o.readOptions)
	if err != nil {
		return err
	}
	defer r.close(context.WithoutCancel(ctx))
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return fmt.Errorf("cannot create the destination: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("cannot open the destination: %w", err)
	}
	defer root.Close()
	directOff.Store(!directFS(dest)) // restore_direct.go

	items, err := r.plan(paths)
	if err != nil {
		return err
	}
	// The unlock's Argon2id memory is garbage now; downloads hold one
	// range request's buffer each: keep the heap near that, as a mount's.
	stopLimit := setMemoryLimit(a.logger, 0, func() uint64 { f, d, _ := r.v.Usage(); return f + d })
	defer stopLimit()
	rs := &restorer{a: a, r: r, root: root, dest: dest, owner: os.Geteuid() == 0, broken: map[string]bool{}}
	downloads, links := rs.createNames(items)

	var total int64
	for _, it := range downloads {
		total += int64(it.in.Size)
	}
	bar := newProgress(a.stderr, "restoring")
	if f, ok := a.stdout.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		bar.tty = false // output to a file or a pipe: a script, no bar
	}
	stopBar := rs.watch(bar, total, len(downloads))
	if o.parallel == 0 {
		o.parallel = restoreParallel(r.v.ChunkSize())
	}
	rs.download(ctx, downloads, o.parallel)
	stopBar()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("restore interrupted (run it again to finish: what is complete is kept): %w", err)
	}
	rs.linkAll(links)
	rs.finishDirs(items)
	return rs.report()
}

// plan lists what to restore: the given paths (all of the vault without
// any) with their subtrees, preceded by the folders that lead to them,
// each once, parents before children.
func (r *reader) plan(paths []string) ([]restoreItem, error) {
	if len(paths) == 0 {
		paths = []string{""}
	}
	var items []restoreItem
	seen := map[string]bool{}
	add := func(rel string, in meta.Inode) bool {
		if seen[rel] {
			return false
		}
		seen[rel] = true
		items = append(items, restoreItem{rel: rel, in: in})
		return true
	}
	var walk func(rel string, in meta.Inode) error
	walk = func(rel string, in meta.Inode) error {
		if !add(rel, in) || !in.IsDir() {
			return nil
		}
		ents, err := r.v.ReadDir(in.Ino)
		if err != nil {
			return fmt.Errorf("listing %q: %w", rel, err)
		}
		for _, e := range ents {
			child, err := r.v.Getattr(e.Ino)
			if err != nil {
				return fmt.Errorf("reading %q: %w", path.Join(rel, e.Name), err)
			}
			if err := walk(path.Join(rel, e.Name), child); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range paths {
		in, clean, err := r.resolve(p)
		if err != nil {
			return nil, err
		}
		// The folders leading to p, with their own attributes.
		if clean != "" {
			parts := strings.Split(clean, "/")
			for i := 1; i < len(parts); i++ {
				anc, _, err := r.resolve(strings.Join(parts[:i], "/"))
				if err != nil {
					return nil, err
				}
				add(strings.Join(parts[:i], "/"), anc)
			}
		}
		if err := walk(clean, in); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// local is rel as a name under the root ("." for the root itself).
func local(rel string) string {
	if rel == "" {
		return "."
	}
	return filepath.FromSlash(rel)
}

// partialName is where a file is written until it is complete: a hidden
// name beside it.
func partialName(rel string) string {
	dir, name := path.Split(rel)
	p := "." + name + ".sealfs-partial"
	if len(p) > meta.MaxNameLen {
		sum := sha256.Sum256([]byte(name))
		p = ".sealfs-partial-" + hex.EncodeToString(sum[:8])
	}
	return local(dir + p)
}

func (rs *restorer) fail(rel string, err error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.broken[rel] = true
	name := rel
	if name == "" {
		name = "."
	}
	if isDamage(err) {
		rs.damaged = append(rs.damaged, fmt.Sprintf("%s: %v", name, err))
		return
	}
	rs.failed = append(rs.failed, fmt.Sprintf("%s: %v", name, err))
}

// underBroken reports whether a folder above rel could not be created.
func (rs *restorer) underBroken(rel string) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		if rs.broken[d] {
			return true
		}
	}
	return rel != "" && rs.broken[""]
}

// createNames creates the folders and symbolic links, and returns the
// files to download (those not already there) and the hard links to make
// once their first name is restored.
func (rs *restorer) createNames(items []restoreItem) (downloads []restoreItem, links [][2]string) {
	first := map[meta.Ino]string{} // inode -> the first name restored for it
	for _, it := range items {
		if rs.underBroken(it.rel) {
			continue
		}
		switch {
		case it.in.IsDir():
			rs.mkdir(it)
		case it.in.IsSymlink():
			rs.symlink(it)
		case it.in.IsRegular():
			if it.in.Nlink > 1 {
				if p, ok := first[it.in.Ino]; ok {
					links = append(links, [2]string{p, it.rel})
					continue
				}
				first[it.in.Ino] = it.rel
			}
			if rs.present(it) {
				rs.stats.skipped.Add(1)
				continue
			}
			downloads = append(downloads, it)
		default:
			rs.special(it)
		}
	}
	return downloads, links
}

// mkdir makes a folder, owner-writable until finishDirs gives it its
// attributes (a read-only folder must still take its files).
func (rs *restorer) mkdir(it restoreItem) {
	name := local(it.rel)
	fi, err := rs.root.Lstat(name)
	switch {
	case err == nil && fi.IsDir():
		if fi.Mode().Perm()&0o700 != 0o700 {
			err = rs.root.Chmod(name, fi.Mode().Perm()|0o700)
		}
	case err == nil:
		err = fmt.Errorf("%s exists and is not a folder: move it away and run restore again", filepath.Join(rs.dest, name))
	case errors.Is(err, fs.ErrNotExist):
		err = rs.root.Mkdir(name, 0o700)
		if err == nil {
			rs.stats.dirs.Add(1)
		}
	}
	if err != nil {
		rs.fail(it.rel, err)
	}
}

// symlink makes a symbolic link (or keeps one with the same target).
func (rs *restorer) symlink(it restoreItem) {
	name := local(it.rel)
	err := func() error {
		fi, err := rs.root.Lstat(name)
		switch {
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			if t, err := rs.root.Readlink(name); err == nil && t == it.in.Target {
				rs.stats.skipped.Add(1)
				return rs.setLinkAttrs(it)
			}
			if err := rs.root.Remove(name); err != nil {
				return err
			}
		case err == nil && fi.IsDir():
			return fmt.Errorf("%s exists and is a folder: move it away and run restore again", filepath.Join(rs.dest, name))
		case err == nil:
			if err := rs.root.Remove(name); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := rs.root.Symlink(it.in.Target, name); err != nil {
			return err
		}
		rs.stats.links.Add(1)
		return rs.setLinkAttrs(it)
	}()
	if err != nil {
		rs.fail(it.rel, err)
	}
}

// special recreates a FIFO, a socket or a device node (mknod(2), as tar
// and rsync do; a device node needs root, or it is a "failed:" line), with
// its mode, owner and times. One already there with the same type and
// device number is kept.
func (rs *restorer) special(it restoreItem) {
	name := local(it.rel)
	err := func() error {
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(rs.dest, name), &st)
		switch {
		case err == nil && uint32(st.Mode)&unix.S_IFMT == it.in.Mode&unix.S_IFMT && uint64(st.Rdev) == uint64(it.in.Rdev):
			rs.stats.skipped.Add(1)
			return rs.setSpecialAttrs(it)
		case err == nil && uint32(st.Mode)&unix.S_IFMT == unix.S_IFDIR:
			return fmt.Errorf("%s exists and is a folder: move it away and run restore again", filepath.Join(rs.dest, name))
		case err == nil:
			if err := rs.root.Remove(name); err != nil {
				return err
			}
		case !errors.Is(err, unix.ENOENT):
			return err
		}
		dir, err := rs.root.Open(filepath.Dir(name))
		if err != nil {
			return err
		}
		defer dir.Close()
		if err := mknodIn(dir, filepath.Join(rs.dest, name), it.in.Mode, it.in.Rdev); err != nil {
			return fmt.Errorf("mknod (a device node needs root): %w", err)
		}
		rs.stats.links.Add(1)
		return rs.setSpecialAttrs(it)
	}()
	if err != nil {
		rs.fail(it.rel, err)
	}
}

// setSpecialAttrs gives a special file its mode (mknod applies the umask),
// owner and times.
func (rs *restorer) setSpecialAttrs(it restoreItem) error {
	if err := rs.root.Chmod(local(it.rel), unixMode(it.in.Mode)); err != nil {
		return err
	}
	return rs.setLinkAttrs(it)
}

// setLinkAttrs gives a symbolic link its owner and times (not those of
// its target).
func (rs *restorer) setLinkAttrs(it restoreItem) error {
	name := local(it.rel)
	if rs.owner {
		if err := rs.root.Lchown(name, int(it.in.Uid), int(it.in.Gid)); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(it.in.Atime), unix.NsecToTimespec(it.in.Mtime)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(rs.dest, name), ts, unix.AT_SYMLINK_NOFOLLOW)
}

// present reports whether it is already in DEST from an earlier run: a
// regular file of the same size and modification time. Its mode and owner
// are set again if they differ; a partial file left beside it goes.
func (rs *restorer) present(it restoreItem) bool {
	name := local(it.rel)
	fi, err := rs.root.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(it.in.Size) || fi.ModTime().UnixNano() != it.in.Mtime {
		return false
	}
	if err := rs.setFileAttrs(it, fi); err != nil {
		rs.fail(it.rel, err)
	}
	_ = rs.root.Remove(partialName(it.rel))
	return true
}

// setFileAttrs gives an existing file the vault's owner and mode where
// they differ.
func (rs *restorer) setFileAttrs(it restoreItem, fi fs.FileInfo) error {
	name := local(it.rel)
	if rs.owner {
		if st, ok := statOwner(fi); !ok || st != [2]uint32{it.in.Uid, it.in.Gid} {
			if err := rs.root.Lchown(name, int(it.in.Uid), int(it.in.Gid)); err != nil {
				return err
			}
		}
	}
	if want := unixMode(it.in.Mode); fileModeBits(fi.Mode()) != want {
		return rs.root.Chmod(name, want)
	}
	return nil
}

// damageError is a read that failed on damaged or tampered data, said
// for the user.
type damageError struct {
	msg string
	err error
}

func (e *damageError) Error() string { return e.msg }
func (e *damageError) Unwrap() error { return e.err }

// readErr says what a failed read of the vault means for the user.
func readErr(err error) error {
	var re *vault.ReadError
	switch {
	case !errors.As(err, &re) || !isDamage(err):
		return err
	case errors.Is(err, remote.ErrNotFound):
		return &damageError{fmt.Sprintf("its data object %s is missing from the store", re.Object), err}
	}
	return &damageError{fmt.Sprintf("its data is damaged or was tampered with (object %s does not authenticate)", re.Object), err}
}

// linkAll makes the hard links whose first name was restored.
func (rs *restorer) linkAll(links [][2]string) {
	for _, l := range links {
		first, name := l[0], l[1]
		if rs.isBroken(first) {
			rs.fail(name, fmt.Errorf("not restored: it is a hard link to %s, which could not be restored", first))
			continue
		}
		err := func() error {
			a, err := rs.root.Lstat(local(first))
			if err != nil {
				return err
			}
			if b, err := rs.root.Lstat(local(name)); err == nil {
				if os.SameFile(a, b) {
					rs.stats.skipped.Add(1)
					return nil
				}
				if b.IsDir() {
					return fmt.Errorf("%s exists and is a folder: move it away and run restore again", filepath.Join(rs.dest, local(name)))
				}
				if err := rs.root.Remove(local(name)); err != nil {
					return err
				}
			}
			if err := rs.root.Link(local(first), local(name)); err != nil {
				return err
			}
			rs.stats.hardlinks.Add(1)
			return nil
		}()
		if err != nil {
			rs.fail(name, err)
		}
	}
}

func (rs *restorer) isBroken(rel string) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.broken[rel]
}

// finishDirs gives the folders their owner, mode and times, deepest
// first: restoring into a folder changes its modification time.
func (rs *restorer) finishDirs(items []restoreItem) {
	var dirs []restoreItem
	for _, it := range items {
		if it.in.IsDir() && !rs.isBroken(it.rel) && !rs.underBroken(it.rel) {
			dirs = append(dirs, it)
		}
	}
	slices.Reverse(dirs) // children were listed after their parents
	for _, it := range dirs {
		name := local(it.rel)
		err := func() error {
			if rs.owner {
				if err := rs.root.Lchown(name, int(it.in.Uid), int(it.in.Gid)); err != nil {
					return err
				}
			}
			if err := rs.root.Chmod(name, unixMode(it.in.Mode)); err != nil {
				return err
			}
			return rs.root.Chtimes(name, time.Unix(0, it.in.Atime), time.Unix(0, it.in.Mtime))
		}()
		if err != nil {
			rs.fail(it.rel, err)
		}
	}
}

// watch shows the restore's progress on bar (bytes, and files done of
// files) until the returned stop is called.
func (rs *restorer) watch(bar *progress, totalBytes int64, totalFiles int) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				files, bytes := rs.stats.files.Load(), rs.stats.bytes.Load()
				bar.describe(fmt.Sprintf("restoring: %d/%d files, %s/%s", files, totalFiles, humanBytes(bytes), humanBytes(totalBytes)))
				bar.update(bytes, totalBytes)
			}
		}
	}()
	return func() { close(quit); <-done; bar.finish() }
}

// report prints what was restored and what was not, and returns the
// restore's error (exit 12 for damaged files, 1 for other failures).
func (rs *restorer) report() error {
	w := rs.a.stdout
	s := &rs.stats
	fmt.Fprintf(w, "restored %s (%s), %s, %s, %s into %s; %d already there\n",
		count(s.files.Load(), "file"), humanBytes(s.restored.Load()), count(s.dirs.Load(), "folder"),
		count(s.links.Load(), "symbolic link"), count(s.hardlinks.Load(), "hard link"), rs.dest, s.skipped.Load())
	sort.Strings(rs.damaged)
	sort.Strings(rs.failed)
	for _, d := range rs.damaged {
		fmt.Fprintf(w, "damaged: %s\n", d)
	}
	for _, f := range rs.failed {
		fmt.Fprintf(w, "failed: %s\n", f)
	}
	if len(rs.failed) > 0 {
		return withCode(exitError, fmt.Errorf("%s could not be restored (see the \"failed:\" lines)", count(int64(len(rs.failed)), "item")),
			"fix the cause and run restore again: what is complete is skipped")
	}
	if len(rs.damaged) > 0 {
		return withCode(exitDamage, fmt.Errorf("%s not restored: damaged or tampered with in the store (see the \"damaged:\" lines; everything else was restored)", count(int64(len(rs.damaged)), "file")),
			"an earlier snapshot may hold them: see 'sealfs snapshots', then add --snapshot ID; or use another copy of the store")
	}
	return nil
}

// unixMode is the permission bits of a vault mode (with setuid, setgid
// and sticky) as an os.FileMode.
func unixMode(mode uint32) os.FileMode {
	m := os.FileMode(mode & 0o777)
	if mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

// fileModeBits is the part of m that unixMode sets.
func fileModeBits(m os.FileMode) os.FileMode {
	return m & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
}

// statOwner is the owner of fi, if the platform reports it.
func statOwner(fi fs.FileInfo) ([2]uint32, bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return [2]uint32{st.Uid, st.Gid}, true
	}
	return [2]uint32{}, false
}

// describe changes the text before the bar.
func (p *progress) describe(desc string) {
	p.desc = desc
	if p.bar != nil {
		p.bar.Describe(desc)
	}
}

// count is n and noun, plural unless n is 1: "3 files".
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
