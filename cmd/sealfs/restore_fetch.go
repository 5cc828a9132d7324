package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/vault"
)

// Restore downloads by object, not by file: it lists every object the
// files to restore have data in, reads each with one range request per
// run of the bytes it needs (runGap), and writes each part straight into
// the files it belongs to. A pack of small files is fetched once for all
// of them; a big file's chunks download in parallel like everything
// else; no byte is fetched twice. Memory is one range request's buffer
// per download (at most a chunk plus its tags): nothing is cached.

// runGap is the largest gap between two needed parts of an object that
// one range request spans rather than making two: a pack holding files
// that are not restored (other paths, older versions) costs up to this
// much extra download per gap.
const runGap = 256 << 10

// restoreFinishers is how many files are synced and renamed at once.
const restoreFinishers = 4

// outFile is a file being downloaded: its partial file, open from its
// first part to its last.
type outFile struct {
	it restoreItem

	mu     sync.Mutex
	out    *os.File // nil before the first part and after the end
	dout   *os.File // the same file open for direct writes, or nil (restore_direct.go)
	padded bool     // a direct write went past the file's size: cut it back before the sync
	left   int      // parts not yet written
	err    error    // the first failure: the file is not restored

	refused atomic.Bool // a direct write was refused: the rest go through out
}

// part is file bytes [fileOff, fileOff+n) at object offset objOff; or,
// for a compressed extent (format 4), the first n bytes of the zstd frame
// of ext.Stored bytes at objOff, gathered whole into frame and then
// decompressed.
type part struct {
	f       *outFile
	objOff  int64
	fileOff int64
	n       int64
	zext    *meta.Extent // the compressed extent; nil if not compressed
	frame   *[]byte
}

// span is how many object bytes from objOff the part needs.
func (p part) span() int64 {
	if p.zext != nil {
		return int64(p.zext.Stored)
	}
	return p.n
}

// objKey names an object as extents name it (the size is authenticated
// with it: two sizes for one id are two reads, one of which fails).
type objKey struct {
	id   crypt.ObjectID
	size int64
}

// objRun is one range request: object bytes [off, off+n) and the parts
// in it, by object offset.
type objRun struct {
	key    objKey
	off, n int64
	parts  []part
}

// planRuns lists the range requests that fetch every file's data, in the
// order the files come (the tree's order, in which packs were written),
// and the files, each with the number of parts it waits for. A file with
// an extent that does not fit its object is failed as damaged.
func (rs *restorer) planRuns(files []restoreItem) ([]*outFile, []objRun) {
	cs := rs.r.v.ChunkSize()
	var outs []*outFile
	var order []objKey
	byObj := map[objKey][]part{}
	for _, it := range files {
		f := &outFile{it: it}
		outs = append(outs, f)
		size := int64(it.in.Size)
		var parts []part
		var keys []objKey
		for i, e := range it.in.Extents {
			fileOff := int64(i) * cs
			n := min(int64(e.Length), cs, size-fileOff)
			if e.IsHole() || n <= 0 {
				continue
			}
			p := part{f: f, objOff: int64(e.Offset), fileOff: fileOff, n: n}
			if e.Compressed() {
				p.zext, p.frame = &e, new([]byte)
			}
			if p.objOff+p.span() > int64(e.ObjectSize) || int64(e.ObjectSize) > crypt.MaxObjectSize {
				f.err = readErr(&vault.ReadError{Ino: it.in.Ino, Object: e.Object,
					Err: fmt.Errorf("extent [%d,+%d) of a %d-byte object: %w", e.Offset, p.span(), e.ObjectSize, vault.ErrCorrupt)})
				break
			}
			parts = append(parts, p)
			keys = append(keys, objKey{e.Object, int64(e.ObjectSize)})
		}
		if f.err != nil {
			continue
		}
		for i, k := range keys {
			if _, ok := byObj[k]; !ok {
				order = append(order, k)
			}
			byObj[k] = append(byObj[k], parts[i])
		}
		f.left = len(parts)
	}
	var runs []objRun
	for _, k := range order {
		ps := byObj[k]
		slices.SortFunc(ps, func(a, b part) int { return cmp.Compare(a.objOff, b.objOff) })
		for len(ps) > 0 {
			r := objRun{key: k, off: ps[0].objOff}
			end := ps[0].objOff + ps[0].span()
			i := 1
			for ; i < len(ps) && ps[i].objOff <= end+runGap; i++ {
				end = max(end, ps[i].objOff+ps[i].span())
			}
			r.n, r.parts, ps = end-r.off, ps[:i], ps[i:]
			runs = append(runs, r)
		}
	}
	return outs, runs
}

// download restores the files: parallel range requests, each written
// into the files it holds as it arrives.
func (rs *restorer) download(ctx context.Context, files []restoreItem, parallel int) {
	outs, runs := rs.planRuns(files)
	for _, f := range outs {
		if f.err != nil || f.left == 0 {
			rs.end(ctx, f, f.err) // damaged, or only zeros: nothing to fetch
		}
	}
	// Complete files are synced and renamed by their own workers, so
	// that downloads go on while the disk syncs.
	done := make(chan *outFile, len(outs))
	var finishers sync.WaitGroup
	for range restoreFinishers {
		finishers.Go(func() {
			for f := range done {
				rs.end(ctx, f, nil)
			}
		})
	}
	jobs := make(chan objRun)
	var wg sync.WaitGroup
	for range min(parallel, max(len(runs), 1)) {
		wg.Go(func() {
			for r := range jobs {
				rs.fetchRun(ctx, r, done)
			}
		})
	}
	for _, r := range runs {
		if ctx.Err() != nil {
			break
		}
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	close(done)
	finishers.Wait()
	for _, f := range outs { // interrupted: no part of a file stays behind
		f.mu.Lock()
		if f.out != nil {
			f.closeDirect()
			f.out.Close()
			f.out = nil
			_ = rs.root.Remove(partialName(f.it.rel))
		}
		f.mu.Unlock()
	}
}

// fetchRun reads one range and writes its parts; a file whose last part
// it wrote goes to done.
func (rs *restorer) fetchRun(ctx context.Context, r objRun, done chan<- *outFile) {
	cs := rs.r.v.ChunkSize()
	next := 0 // the first part that may still overlap what comes
	stages := make([]*stage, len(r.parts))
	defer func() {
		for _, s := range stages {
			if s != nil {
				s.release()
			}
		}
	}()
	err := rs.r.v.ReadObject(ctx, r.key.id, r.key.size, r.off, r.n, func(at int64, plain []byte) error {
		end := at + int64(len(plain))
		for next < len(r.parts) && r.parts[next].objOff+r.parts[next].span() <= at {
			next++
		}
		for j := next; j < len(r.parts); j++ {
			p := r.parts[j]
			if p.objOff >= end {
				break
			}
			lo, hi := max(at, p.objOff), min(end, p.objOff+p.span())
			switch {
			case hi <= lo:
			case p.zext != nil:
				*p.frame = append(*p.frame, plain[lo-at:hi-at]...)
				if int64(len(*p.frame)) == p.span() {
					data, err := vault.DecompressChunk(*p.frame, *p.zext, cs)
					*p.frame = nil
					if err != nil {
						return err
					}
					rs.write(p.f, &stages[j], data[:p.n], p.fileOff, true)
				}
			default:
				rs.write(p.f, &stages[j], plain[lo-at:hi-at], p.fileOff+lo-p.objOff, hi == p.objOff+p.n)
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		err = readErr(&vault.ReadError{Object: r.key.id, Err: err})
	}
	for _, p := range r.parts {
		p.f.mu.Lock()
		if err != nil && p.f.err == nil {
			p.f.err = err
		}
		p.f.left--
		last := p.f.left == 0
		p.f.mu.Unlock()
		if last {
			done <- p.f
		}
	}
}

// write writes b, the bytes of one part at file offset off (last: the
// part's end), into f's partial file, creating it first. A file written
// directly gathers each part's bytes in a stage (*st) first.
func (rs *restorer) write(f *outFile, st **stage, b []byte, off int64, last bool) {
	out, dout := rs.open(f)
	if out == nil {
		return
	}
	if *st == nil && (dout == nil || f.refused.Load() || off%directAlign != 0) {
		rs.writeAt(f, out, b, off, len(b))
		return
	}
	if *st == nil {
		*st = newStage(off)
	}
	flush := func(block []byte, off int64, n int) error {
		if !f.refused.Load() {
			_, err := directWrite(dout, block, off)
			if err == nil {
				if off+int64(len(block)) > int64(f.it.in.Size) {
					f.mu.Lock()
					f.padded = true
					f.mu.Unlock()
				}
				rs.stats.bytes.Add(int64(n))
				return nil
			}
			if !directRefused(err) {
				return rs.failWrite(f, err)
			}
			f.refused.Store(true)
			directOff.Store(true)
		}
		return rs.writeAt(f, out, block, off, n)
	}
	err := (*st).add(b, flush)
	if err == nil && last {
		err = (*st).end(flush)
	}
	if err != nil || last {
		(*st).release()
		*st = nil
	}
}

// writeAt writes b[:n] at off through the ordinary handle.
func (rs *restorer) writeAt(f *outFile, out *os.File, b []byte, off int64, n int) error {
	if _, err := out.WriteAt(b[:n], off); err != nil {
		return rs.failWrite(f, err)
	}
	rs.stats.bytes.Add(int64(n))
	return nil
}

// failWrite records a write's failure: the file is not restored.
func (rs *restorer) failWrite(f *outFile, err error) error {
	f.mu.Lock()
	f.err = cmpErr(f.err, err)
	f.mu.Unlock()
	return err
}

// open returns f's partial file and, if it is written directly, the
// direct handle, creating them with the file's first part; nil once the
// file has failed. Writes go on without f.mu: parts never overlap, and
// the handles stay open until the last part is written.
func (rs *restorer) open(f *outFile) (out, dout *os.File) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, nil
	}
	if f.out == nil {
		if f.out, f.err = rs.create(f.it); f.err != nil {
			return nil, nil
		}
		if directUsable(int64(f.it.in.Size)) {
			d, err := rs.root.OpenFile(partialName(f.it.rel), os.O_WRONLY|oDirect, 0)
			switch {
			case err == nil:
				f.dout = d
			case directRefused(err):
				directOff.Store(true)
			}
		}
	}
	return f.out, f.dout
}

// closeDirect closes f's direct handle, if any (f.mu held).
func (f *outFile) closeDirect() error {
	if f.dout == nil {
		return nil
	}
	err := f.dout.Close()
	f.dout = nil
	return err
}

// create makes the partial file of it, of its size (what no part covers
// reads as zeros, as in the vault).
func (rs *restorer) create(it restoreItem) (*os.File, error) {
	partial := partialName(it.rel)
	if err := rs.root.Remove(partial); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out, err := rs.root.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := out.Truncate(int64(it.in.Size)); err != nil {
		out.Close()
		_ = rs.root.Remove(partial)
		return nil, err
	}
	return out, nil
}

// end finishes f once nothing more comes for it: with its attributes
// under its name, or, after an error, gone and named as failed or
// damaged (unless the restore was interrupted).
func (rs *restorer) end(ctx context.Context, f *outFile, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err = cmpErr(f.err, err)
	if err == nil && f.out == nil {
		f.out, err = rs.create(f.it)
	}
	if err == nil {
		err = f.closeDirect()
	}
	if err == nil && f.padded {
		err = f.out.Truncate(int64(f.it.in.Size)) // direct writes' zeros past the end
	}
	if err == nil {
		err = rs.finish(f.it, f.out)
		f.out = nil
	}
	if err == nil {
		rs.stats.files.Add(1)
		rs.stats.restored.Add(int64(f.it.in.Size))
		return
	}
	f.closeDirect()
	if f.out != nil {
		f.out.Close()
		f.out = nil
	}
	_ = rs.root.Remove(partialName(f.it.rel)) // never leave a part of a file behind
	if ctx.Err() == nil {
		rs.fail(f.it.rel, err)
	}
}

// finish gives a complete partial file its owner, mode and times, syncs
// and closes it, and renames it into place.
func (rs *restorer) finish(it restoreItem, out *os.File) error {
	err := func() error {
		if rs.owner {
			if err := out.Chown(int(it.in.Uid), int(it.in.Gid)); err != nil {
				return err
			}
		}
		if err := out.Chmod(unixMode(it.in.Mode)); err != nil {
			return err
		}
		return out.Sync()
	}()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	partial := partialName(it.rel)
	if err := rs.root.Chtimes(partial, time.Unix(0, it.in.Atime), time.Unix(0, it.in.Mtime)); err != nil {
		return err
	}
	if fi, err := rs.root.Lstat(local(it.rel)); err == nil && fi.IsDir() {
		return fmt.Errorf("%s exists and is a folder: move it away and run restore again", filepath.Join(rs.dest, local(it.rel)))
	}
	return rs.root.Rename(partial, local(it.rel))
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
