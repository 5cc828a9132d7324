package fs

import (
	"bytes"
	"errors"
	"os"
	"path"
	"strings"
	"syscall"
)

// do applies one random operation to mount and model.
func (m *modelRun) do() {
	ops := []struct {
		weight int
		fn     func()
	}{
		{10, m.opCreate}, {25, m.opWriteHandle}, {6, m.opWritePath}, {8, m.opTruncHandle},
		{3, m.opTruncPath}, {10, m.opClose}, {3, m.opFsync}, {5, m.opReadHandle},
		{8, m.opRename}, {5, m.opUnlink}, {5, m.opMkdir}, {4, m.opRmdir}, {3, m.opSymlink},
		{3, m.opChmod}, {1, m.remount},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	x := m.r.IntN(total)
	for _, o := range ops {
		if x < o.weight {
			o.fn()
			return
		}
		x -= o.weight
	}
}

func (m *modelRun) abs(p string) string { return m.mt.path(p) }

func (m *modelRun) opCreate() {
	p := m.newPath()
	ino, parent := m.resolve(p)
	if parent == nil || ino != nil && !isFile(ino) || len(m.handles) > 8 {
		return
	}
	m.logf("create %s", p)
	f, err := os.OpenFile(m.abs(p), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	m.check(err, "create "+p)
	if err != nil {
		return
	}
	if ino == nil {
		ino = &mInode{mode: 0o644}
		parent.children[path.Base(p)] = ino
	}
	ino.data = nil
	ino.gen++
	m.handles = append(m.handles, &mHandle{f: f, ino: ino})
}

func (m *modelRun) handle() *mHandle {
	if len(m.handles) == 0 {
		return nil
	}
	return m.handles[m.r.IntN(len(m.handles))]
}

func (m *modelRun) opWriteHandle() {
	h := m.handle()
	if h == nil {
		return
	}
	off, b := m.randOff(h.ino), m.randData()
	m.logf("write handle %s off=%d n=%d", h.f.Name(), off, len(b))
	_, err := h.f.WriteAt(b, off)
	m.check(err, "write")
	writeModel(h.ino, off, b)
}

func (m *modelRun) opWritePath() {
	p := m.pick(isFile)
	if p == "" {
		return
	}
	ino, _ := m.resolve(p)
	off, b := m.randOff(ino), m.randData()
	m.logf("write path %s off=%d n=%d", p, off, len(b))
	f, err := os.OpenFile(m.abs(p), os.O_WRONLY, 0)
	m.check(err, "open "+p)
	if err != nil {
		return
	}
	_, err = f.WriteAt(b, off)
	m.check(err, "write "+p)
	m.check(f.Close(), "close "+p)
	writeModel(ino, off, b)
}

func (m *modelRun) opTruncHandle() {
	h := m.handle()
	if h == nil {
		return
	}
	size := m.randOff(h.ino)
	m.logf("ftruncate %s %d", h.f.Name(), size)
	m.check(h.f.Truncate(size), "ftruncate")
	truncModel(h.ino, size)
}

func (m *modelRun) opTruncPath() {
	p := m.pick(isFile)
	if p == "" {
		return
	}
	ino, _ := m.resolve(p)
	size := m.randOff(ino)
	m.logf("truncate %s %d", p, size)
	m.check(os.Truncate(m.abs(p), size), "truncate "+p)
	truncModel(ino, size)
}

func (m *modelRun) opClose() {
	if len(m.handles) == 0 {
		return
	}
	i := m.r.IntN(len(m.handles))
	m.logf("close %s", m.handles[i].f.Name())
	m.check(m.handles[i].f.Close(), "close")
	m.handles = append(m.handles[:i], m.handles[i+1:]...)
}

func (m *modelRun) opFsync() {
	if h := m.handle(); h != nil {
		m.logf("fsync %s", h.f.Name())
		m.check(h.f.Sync(), "fsync")
	}
}

// opReadHandle reads a whole file through an open handle: this also sees
// files that were unlinked or renamed while open.
func (m *modelRun) opReadHandle() {
	h := m.handle()
	if h == nil {
		return
	}
	m.logf("read handle %s", h.f.Name())
	buf := make([]byte, len(h.ino.data)+10)
	n, err := h.f.ReadAt(buf, 0)
	if err != nil && n != len(h.ino.data) {
		m.check(err, "read handle")
	}
	if !bytes.Equal(buf[:n], h.ino.data) {
		m.t.Errorf("step %d: read through handle: %d bytes, want %d (content differs)", m.step, n, len(h.ino.data))
	}
}

func (m *modelRun) opRename() {
	src := m.pick(nil)
	if src == "" {
		return
	}
	dst := m.newPath()
	sIno, sParent := m.resolve(src)
	dIno, dParent := m.resolve(dst)
	if dParent == nil || src == dst || dst == src || strings.HasPrefix(dst+"/", src+"/") {
		return
	}
	if dIno != nil && (dIno.dir != sIno.dir || dIno.dir && len(dIno.children) > 0) {
		return // invalid renames are covered by the semantics table
	}
	m.logf("rename %s %s", src, dst)
	m.check(syscall.Rename(m.abs(src), m.abs(dst)), "rename "+src+" "+dst)
	delete(sParent.children, path.Base(src))
	dParent.children[path.Base(dst)] = sIno
}

func (m *modelRun) opUnlink() {
	p := m.pick(func(n *mInode) bool { return !n.dir })
	if p == "" {
		return
	}
	_, parent := m.resolve(p)
	m.logf("unlink %s", p)
	m.check(os.Remove(m.abs(p)), "unlink "+p)
	delete(parent.children, path.Base(p))
}

func (m *modelRun) opMkdir() {
	p := m.newPath()
	ino, parent := m.resolve(p)
	if parent == nil || ino != nil {
		return
	}
	m.logf("mkdir %s", p)
	m.check(os.Mkdir(m.abs(p), 0o755), "mkdir "+p)
	parent.children[path.Base(p)] = &mInode{dir: true, mode: 0o755, children: map[string]*mInode{}}
}

func (m *modelRun) opRmdir() {
	p := m.pick(isDir)
	if p == "" {
		return
	}
	ino, parent := m.resolve(p)
	m.logf("rmdir %s", p)
	err := syscall.Rmdir(m.abs(p))
	if len(ino.children) > 0 {
		if !errors.Is(err, syscall.ENOTEMPTY) {
			m.t.Errorf("step %d: rmdir of non-empty %s: %v, want ENOTEMPTY", m.step, p, err)
		}
		return
	}
	m.check(err, "rmdir "+p)
	delete(parent.children, path.Base(p))
}

func (m *modelRun) opSymlink() {
	p := m.newPath()
	ino, parent := m.resolve(p)
	if parent == nil || ino != nil {
		return
	}
	target := "target-" + string(rune('a'+m.r.IntN(26)))
	m.logf("symlink %s -> %s", p, target)
	m.check(os.Symlink(target, m.abs(p)), "symlink "+p)
	parent.children[path.Base(p)] = &mInode{target: target, mode: 0o777}
}

func (m *modelRun) opChmod() {
	p := m.pick(func(n *mInode) bool { return n.target == "" })
	if p == "" {
		return
	}
	ino, _ := m.resolve(p)
	mode := uint32(0o600 | m.r.IntN(0o200))
	m.logf("chmod %s %o", p, mode)
	m.check(os.Chmod(m.abs(p), os.FileMode(mode)), "chmod "+p)
	ino.mode = mode
}

// remount closes everything, unmounts (which commits) and mounts the vault
// again as a new device would.
func (m *modelRun) remount() {
	m.logf("remount")
	m.closeAll()
	m.mt.unmount(m.t)
	m.mt = m.v.mount(m.t, func(o *Options) { o.MemoryBudget = 1 })
	m.full = true
}

func (m *modelRun) closeAll() {
	for _, h := range m.handles {
		m.check(h.f.Close(), "close")
	}
	m.handles = nil
}

// compare checks the whole mount against the model: every path, type,
// mode and size, and the content of every file whose data or path changed
// since the last compare (with full, of every file).
func (m *modelRun) compare(full bool) {
	want := map[string]*mInode{}
	for _, p := range m.all() {
		want[p], _ = m.resolve(p)
	}
	got := map[string]bool{}
	m.walk("", got)
	for p := range want {
		if !got[p] {
			m.t.Errorf("step %d: %s missing from the mount", m.step, p)
		}
	}
	for p := range got {
		if want[p] == nil {
			m.t.Errorf("step %d: %s in the mount, not in the model", m.step, p)
			continue
		}
		m.compareOne(p, want[p], full)
	}
	m.seen = make(map[string]seenAs, len(want))
	for p, n := range want {
		m.seen[p] = seenAs{n, n.gen}
	}
	m.full = false
}

func (m *modelRun) walk(dir string, seen map[string]bool) {
	ents, err := os.ReadDir(m.abs(dir))
	m.check(err, "readdir "+dir)
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		seen[p] = true
		if e.IsDir() {
			m.walk(p, seen)
		}
	}
}

func (m *modelRun) compareOne(p string, n *mInode, full bool) {
	var st syscall.Stat_t
	if err := syscall.Lstat(m.abs(p), &st); err != nil {
		m.check(err, "lstat "+p)
		return
	}
	switch {
	case n.target != "":
		got, err := os.Readlink(m.abs(p))
		if err != nil || got != n.target {
			m.t.Errorf("step %d: readlink %s = %q, %v; want %q", m.step, p, got, err, n.target)
		}
		return
	case st.Mode&0o7777 != n.mode:
		m.t.Errorf("step %d: %s mode %o, want %o", m.step, p, st.Mode&0o7777, n.mode)
	case n.dir != (st.Mode&syscall.S_IFMT == syscall.S_IFDIR):
		m.t.Errorf("step %d: %s type %o", m.step, p, st.Mode&syscall.S_IFMT)
	}
	if n.dir {
		return
	}
	if st.Size != int64(len(n.data)) {
		m.t.Errorf("step %d: %s size %d, want %d", m.step, p, st.Size, len(n.data))
	}
	if !full && m.seen[p] == (seenAs{n, n.gen}) {
		return // read at this path, unchanged since
	}
	data, err := os.ReadFile(m.abs(p))
	m.check(err, "read "+p)
	if !bytes.Equal(data, n.data) {
		i := 0
		for i < len(data) && i < len(n.data) && data[i] == n.data[i] {
			i++
		}
		m.t.Errorf("step %d: %s content differs at offset %d (len %d, want %d)", m.step, p, i, len(data), len(n.data))
	}
}
