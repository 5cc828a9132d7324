package tests

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stressModel is what the mount must hold: every file's content and every
// directory, by path relative to the mount. Each worker owns the subtree
// "wN" (nobody else touches it); "shared" is touched only under mu, together
// with the model, so the model is exact although the workers run at once.
type stressModel struct {
	mu    sync.Mutex
	files map[string][]byte
	dirs  map[string]bool
}

func (m *stressModel) setFile(p string, data []byte) {
	m.mu.Lock()
	m.files[p] = data
	m.mu.Unlock()
}

// stressWorker applies random operations, fsync- and rename-heavy, in its
// own subtree and, under the model lock, across into the shared directory.
type stressWorker struct {
	t     *testing.T
	mnt   string
	root  string // "wN"
	r     *rand.Rand
	m     *stressModel
	files []string // this worker's files (relative paths), kept in step with the model
	dirs  []string // this worker's directories, root first
	ops   map[string]int
}

func (w *stressWorker) abs(p string) string { return filepath.Join(w.mnt, p) }

func (w *stressWorker) fail(op string, err error) {
	w.t.Errorf("%s: %s: %v", w.root, op, err)
}

func (w *stressWorker) content() []byte {
	n := w.r.IntN(96 << 10)
	if w.r.IntN(100) == 0 {
		n = 4<<20 + w.r.IntN(100_000) // across a chunk boundary now and then
	}
	return w.randBytes(n)
}

func (w *stressWorker) randBytes(n int) []byte {
	return pseudoRandom(w.r.Uint64(), n)
}

func (w *stressWorker) newName() string {
	return path.Join(w.dirs[w.r.IntN(len(w.dirs))], "f"+strconv.Itoa(w.r.IntN(1000)))
}

// saveAtomic writes data to a temporary name, fsyncs it and renames it
// over p: how chat apps save their databases.
func (w *stressWorker) saveAtomic(p string, data []byte) {
	tmp := p + ".tmp"
	if err := writeSync(w.abs(tmp), data); err != nil {
		w.fail("write "+tmp, err)
		return
	}
	if err := os.Rename(w.abs(tmp), w.abs(p)); err != nil {
		w.fail("rename over "+p, err)
		return
	}
	w.track(p, data)
}

// track records p with data in the model and in the worker's file list.
func (w *stressWorker) track(p string, data []byte) {
	if !slices.Contains(w.files, p) {
		w.files = append(w.files, p)
	}
	w.m.setFile(p, data)
}

func (w *stressWorker) untrack(p string) {
	w.files = slices.DeleteFunc(w.files, func(f string) bool { return f == p })
	w.m.mu.Lock()
	delete(w.m.files, p)
	w.m.mu.Unlock()
}

func (w *stressWorker) pickFile() (string, []byte, bool) {
	if len(w.files) == 0 {
		return "", nil, false
	}
	p := w.files[w.r.IntN(len(w.files))]
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return p, w.m.files[p], true
}

func (w *stressWorker) step() {
	switch k := w.r.IntN(100); {
	case k < 25: // atomic save of a new or existing file
		w.ops["save"]++
		p := w.newName()
		if len(w.files) > 0 && w.r.IntN(2) == 0 {
			p, _, _ = w.pickFile()
		}
		w.saveAtomic(p, w.content())
	case k < 40: // overwrite a range in place, then fsync
		w.ops["patch+fsync"]++
		p, cur, ok := w.pickFile()
		if !ok {
			return
		}
		off := w.r.IntN(len(cur) + 1)
		patch := w.randBytes(1 + w.r.IntN(40_000))
		f, err := os.OpenFile(w.abs(p), os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteAt(patch, int64(off))
			if err == nil {
				err = f.Sync()
			}
			err = closeJoin(f, err)
		}
		if err != nil {
			w.fail("patch "+p, err)
			return
		}
		next := append(bytes.Clone(cur), make([]byte, max(0, off+len(patch)-len(cur)))...)
		copy(next[off:], patch)
		w.track(p, next)
	case k < 50: // append without fsync
		w.ops["append"]++
		p, cur, ok := w.pickFile()
		if !ok {
			return
		}
		add := w.randBytes(w.r.IntN(20_000))
		f, err := os.OpenFile(w.abs(p), os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = f.Write(add)
			err = closeJoin(f, err)
		}
		if err != nil {
			w.fail("append "+p, err)
			return
		}
		w.track(p, append(bytes.Clone(cur), add...))
	case k < 56: // truncate
		w.ops["truncate"]++
		p, cur, ok := w.pickFile()
		if !ok {
			return
		}
		n := w.r.IntN(len(cur) + 50_000)
		if err := os.Truncate(w.abs(p), int64(n)); err != nil {
			w.fail("truncate "+p, err)
			return
		}
		next := append(bytes.Clone(cur), make([]byte, max(0, n-len(cur)))...)[:n]
		w.track(p, next)
	case k < 68: // rename a file within the subtree, maybe over another
		w.ops["rename"]++
		p, cur, ok := w.pickFile()
		if !ok {
			return
		}
		q := w.newName()
		if len(w.files) > 1 && w.r.IntN(3) == 0 {
			q, _, _ = w.pickFile()
		}
		if q == p {
			return
		}
		if err := os.Rename(w.abs(p), w.abs(q)); err != nil {
			w.fail("rename "+p+" "+q, err)
			return
		}
		w.untrack(p)
		w.track(q, cur)
	case k < 74: // unlink
		w.ops["unlink"]++
		p, _, ok := w.pickFile()
		if !ok {
			return
		}
		if err := os.Remove(w.abs(p)); err != nil {
			w.fail("unlink "+p, err)
			return
		}
		w.untrack(p)
	case k < 75: // a new directory
		w.ops["mkdir"]++
		d := path.Join(w.dirs[w.r.IntN(len(w.dirs))], "d"+strconv.Itoa(w.r.IntN(100)))
		if slices.Contains(w.dirs, d) || slices.Contains(w.files, d) {
			return
		}
		if err := os.Mkdir(w.abs(d), 0o755); err != nil {
			w.fail("mkdir "+d, err)
			return
		}
		w.dirs = append(w.dirs, d)
		w.m.mu.Lock()
		w.m.dirs[d] = true
		w.m.mu.Unlock()
	case k < 78: // move a whole directory (one metadata record)
		w.ops["rename dir"]++
		w.renameDir()
	case k < 86: // move a file into or out of the shared directory
		w.ops["shared move"]++
		w.sharedMove()
	case k < 93: // fsync an open file after a small write
		w.ops["write+fsync"]++
		p := w.newName()
		if slices.Contains(w.files, p) || slices.Contains(w.dirs, p) {
			return
		}
		data := w.randBytes(w.r.IntN(10_000))
		if err := writeSync(w.abs(p), data); err != nil {
			w.fail("write "+p, err)
			return
		}
		w.track(p, data)
	default: // read back one file right away
		w.ops["read"]++
		p, cur, ok := w.pickFile()
		if !ok {
			return
		}
		got, err := os.ReadFile(w.abs(p))
		if err != nil || !bytes.Equal(got, cur) {
			w.t.Errorf("%s: read %s: %d bytes (%v), want %d", w.root, p, len(got), err, len(cur))
		}
	}
}

// renameDir moves one of the worker's directories, with everything in it,
// to a new name under a directory outside it.
func (w *stressWorker) renameDir() {
	if len(w.dirs) < 2 {
		return
	}
	d := w.dirs[1+w.r.IntN(len(w.dirs)-1)]
	parent := w.dirs[w.r.IntN(len(w.dirs))]
	if parent == d || strings.HasPrefix(parent, d+"/") {
		return
	}
	q := path.Join(parent, "d"+strconv.Itoa(w.r.IntN(100)))
	if slices.Contains(w.dirs, q) || slices.Contains(w.files, q) {
		return
	}
	if err := os.Rename(w.abs(d), w.abs(q)); err != nil {
		w.fail("rename directory "+d+" "+q, err)
		return
	}
	moved := func(p string) (string, bool) {
		if p == d {
			return q, true
		}
		if rest, ok := strings.CutPrefix(p, d+"/"); ok {
			return q + "/" + rest, true
		}
		return p, false
	}
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	for i, p := range w.dirs {
		if n, ok := moved(p); ok {
			delete(w.m.dirs, p)
			w.m.dirs[n] = true
			w.dirs[i] = n
		}
	}
	for i, p := range w.files {
		if n, ok := moved(p); ok {
			w.m.files[n] = w.m.files[p]
			delete(w.m.files, p)
			w.files[i] = n
		}
	}
}

// sharedMove renames one of the worker's files into "shared", or a shared
// file into the worker's subtree, under the model lock.
func (w *stressWorker) sharedMove() {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	var shared []string
	for p := range w.m.files {
		if path.Dir(p) == "shared" {
			shared = append(shared, p)
		}
	}
	slices.Sort(shared)
	if len(shared) > 0 && (w.r.IntN(2) == 0 || len(w.files) == 0) {
		p := shared[w.r.IntN(len(shared))]
		q := path.Join(w.root, "from-shared-"+strconv.Itoa(w.r.IntN(1000)))
		if slices.Contains(w.dirs, q) {
			return
		}
		if err := os.Rename(w.abs(p), w.abs(q)); err != nil {
			w.fail("rename "+p+" "+q, err)
			return
		}
		w.m.files[q] = w.m.files[p]
		delete(w.m.files, p)
		if !slices.Contains(w.files, q) {
			w.files = append(w.files, q)
		}
		return
	}
	if len(w.files) == 0 {
		return
	}
	p := w.files[w.r.IntN(len(w.files))]
	q := "shared/s" + strconv.Itoa(w.r.IntN(50))
	if err := os.Rename(w.abs(p), w.abs(q)); err != nil {
		w.fail("rename "+p+" "+q, err)
		return
	}
	w.m.files[q] = w.m.files[p]
	delete(w.m.files, p)
	w.files = slices.DeleteFunc(w.files, func(f string) bool { return f == p })
}

func closeJoin(f *os.File, err error) error {
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// compareModel walks mnt and compares it with the model: the same
// directories, the same files, byte for byte.
func compareModel(t *testing.T, what, mnt string, m *stressModel) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(mnt, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == mnt {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		seen[rel] = true
		switch want, isFile := m.files[rel]; {
		case e.IsDir():
			if !m.dirs[rel] {
				t.Errorf("%s: unexpected directory %s", what, rel)
			}
		case !isFile:
			t.Errorf("%s: unexpected file %s", what, rel)
		default:
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %s: %d bytes (%v), want %d", what, rel, len(got), err, len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: walking the mount: %v", what, err)
	}
	for p := range m.files {
		if !seen[p] {
			t.Errorf("%s: file %s is missing", what, p)
		}
	}
	for d := range m.dirs {
		if !seen[d] {
			t.Errorf("%s: directory %s is missing", what, d)
		}
	}
}

// TestStressMinIO: several writers apply thousands of random operations,
// fsync- and rename-heavy, at once through the real binary's mount on
// MinIO, with commits every 200ms racing them. Afterwards the mount, and a
// new device's mount of the same bucket, equal the model exactly, and
// "sealfs check --read-data" finds no damage. SEALFS_STRESS_OPS sets the
// operations per worker (default 1000).
func TestStressMinIO(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	const workers = 4
	opsPer := 1000
	if s := os.Getenv("SEALFS_STRESS_OPS"); s != "" {
		opsPer, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d workers x %d operations", seed, workers, opsPer)
	st := s3Store(t)
	pass := []string{"SEALFS_PASSPHRASE=stress test passphrase"}
	a := newDevice(t, "device A", st.env)
	a.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)
	mnt := a.mount(pass, st.location, "--commit-interval", "200ms")

	m := &stressModel{files: map[string][]byte{}, dirs: map[string]bool{"shared": true}}
	if err := os.Mkdir(filepath.Join(mnt, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	ws := make([]*stressWorker, workers)
	for i := range ws {
		root := fmt.Sprintf("w%d", i)
		if err := os.Mkdir(filepath.Join(mnt, root), 0o755); err != nil {
			t.Fatal(err)
		}
		m.dirs[root] = true
		ws[i] = &stressWorker{t: t, mnt: mnt, root: root, r: rand.New(rand.NewPCG(seed, uint64(i))),
			m: m, dirs: []string{root}, ops: map[string]int{}}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for i := 0; i < opsPer && !t.Failed(); i++ {
				w.step()
			}
		})
	}
	wg.Wait()
	total := map[string]int{}
	for _, w := range ws {
		for k, v := range w.ops {
			total[k] += v
		}
	}
	t.Logf("%d operations in %v: %v; %d files", workers*opsPer, time.Since(start).Round(time.Millisecond), total, len(m.files))
	if t.Failed() {
		t.FailNow()
	}
	compareModel(t, "live mount", mnt, m)
	a.ok(nil, "umount", mnt)

	b := newDevice(t, "device B", st.env)
	mntB := b.mount(pass, st.location, "--read-only")
	compareModel(t, "new device after remount", mntB, m)
	b.ok(nil, "umount", mntB)
	b.ok(pass, "check", "--read-data", st.location)
}
