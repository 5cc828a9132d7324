package fs

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
)

var (
	modelSeed = flag.Uint64("model.seed", 0, "seed of TestModel (0 = random; also env SEALFS_MODEL_SEED)")
	modelOps  = flag.Int("model.ops", 1500, "operations in TestModel")
)

// mInode is the model of one inode.
type mInode struct {
	dir      bool
	data     []byte
	target   string // symlink if not ""
	mode     uint32 // permission bits
	children map[string]*mInode
	gen      int // bumped by every change of data
}

// seenAs is what the last compare read at a path: which inode, at which
// generation of its data.
type seenAs struct {
	ino *mInode
	gen int
}

// fullEvery is how often (in steps) compare reads every file's content;
// in between it reads only the files whose data or path changed since
// the last compare, and checks every other file's type, mode and size.
const fullEvery = 16

// mHandle is an open file in the mount and the inode it has open in the
// model.
type mHandle struct {
	f   *os.File
	ino *mInode
}

// modelRun applies random operations to a mount and to the model.
type modelRun struct {
	t       *testing.T
	r       *rand.Rand
	v       *testVault
	mt      *mounted
	root    *mInode
	handles []*mHandle
	step    int
	seed    uint64
	seen    map[string]seenAs // path -> what the last compare read there
	full    bool              // next compare reads every file (after a remount)
	log     []string          // recent operations, for the failure message
}

const modelChunk = 64 << 10 // one segment: every write crosses chunks

// longName is a name near the limit, and a plaintext marker.
var longName = "long-" + strings.Repeat("x", 200)

// TestModel applies thousands of random operations to the mount and to a
// plain in-memory model, comparing the whole tree after every step and
// after every remount. Reproduce a failure with -model.seed=N.
func TestModel(t *testing.T) {
	seed := *modelSeed
	if s := os.Getenv("SEALFS_MODEL_SEED"); s != "" && seed == 0 {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	ops := *modelOps
	if testing.Short() {
		ops = 300
	}
	t.Logf("seed %d (reproduce with: go test ./fs -run TestModel -model.seed=%d)", seed, seed)
	v := newVault(t, remote.NewMemory(), modelChunk)
	m := &modelRun{t: t, r: rand.New(rand.NewPCG(seed, 0)), v: v, seed: seed,
		root: &mInode{dir: true, mode: 0o755, children: map[string]*mInode{}}}
	m.mt = v.mount(t, func(o *Options) { o.MemoryBudget = 1 }) // smallest budget: exercise backpressure
	mark := marker(t, "model")
	ok(t, os.WriteFile(m.mt.path(mark), []byte(mark), 0o644))
	m.root.children[mark] = &mInode{mode: 0o644, data: []byte(mark)}
	caches := []string{m.mt.cache}
	for m.step = 0; m.step < ops; m.step++ {
		m.do()
		m.compare(m.full || m.step%fullEvery == 0)
		if t.Failed() {
			m.closeAll()
			t.Fatalf("seed %d, step %d; last operations:\n%s", seed, m.step, m.recent())
		}
	}
	m.remount()
	m.compare(true)
	m.mt.unmount(t)
	caches = append(caches, m.mt.cache)
	assertNoPlaintext(t, [][]byte{[]byte(mark), []byte(longName)}, caches, v.store)
}

func (m *modelRun) recent() string {
	var b bytes.Buffer
	for _, l := range m.log[max(0, len(m.log)-2*fullEvery):] {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}

func (m *modelRun) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf("%d: ", m.step)+fmt.Sprintf(format, args...))
}

// fail reports an unexpected result of the mount.
func (m *modelRun) check(err error, what string) {
	if err != nil {
		m.t.Errorf("step %d %s: %v", m.step, what, err)
	}
}

// entries lists every path of the model under dir, depth first.
func (m *modelRun) entries(dir string, n *mInode, out *[]string) {
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := path.Join(dir, name)
		*out = append(*out, p)
		if c := n.children[name]; c.dir {
			m.entries(p, c, out)
		}
	}
}

func (m *modelRun) all() []string {
	var out []string
	m.entries("", m.root, &out)
	return out
}

// resolve returns the inode at p and its parent.
func (m *modelRun) resolve(p string) (ino, parent *mInode) {
	parent = m.root
	dir, name := path.Split(p)
	if dir != "" {
		parent, _ = m.resolve(path.Clean(dir))
		if parent == nil || !parent.dir {
			return nil, nil
		}
	}
	return parent.children[name], parent
}

// pick returns a random existing path matching want (nil = any), or "".
func (m *modelRun) pick(want func(*mInode) bool) string {
	var cands []string
	for _, p := range m.all() {
		if ino, _ := m.resolve(p); want == nil || want(ino) {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	return cands[m.r.IntN(len(cands))]
}

func isFile(n *mInode) bool { return !n.dir && n.target == "" }
func isDir(n *mInode) bool  { return n.dir }

// newPath returns a random name in a random directory (root included).
func (m *modelRun) newPath() string {
	dir := ""
	if m.r.IntN(3) > 0 {
		dir = m.pick(isDir)
	}
	names := []string{"a", "b", "c", "d", "e", longName}
	return path.Join(dir, names[m.r.IntN(len(names))])
}

func (m *modelRun) randData() []byte {
	var n int
	switch m.r.IntN(5) {
	case 0, 4:
		n = 1 + m.r.IntN(100)
	case 1:
		n = modelChunk
	default:
		n = 1 + m.r.IntN(2*modelChunk+10)
	}
	b := make([]byte, n)
	if m.r.IntN(6) > 0 { // sometimes zeros: holes
		for i := range b {
			b[i] = byte(m.r.Uint32())
		}
	}
	return b
}

// randOff returns an offset or size for a file: chunk-aligned, near the
// file's end (where truncate and append interact) or anywhere.
func (m *modelRun) randOff(n *mInode) int64 {
	switch m.r.IntN(3) {
	case 0:
		return int64(m.r.IntN(4)) * modelChunk
	case 1:
		return max(0, int64(len(n.data))+int64(m.r.IntN(400))-300)
	}
	return int64(m.r.IntN(4*modelChunk + 100))
}

func writeModel(n *mInode, off int64, b []byte) {
	n.gen++
	if end := off + int64(len(b)); end > int64(len(n.data)) {
		n.data = append(n.data, make([]byte, end-int64(len(n.data)))...)
	}
	copy(n.data[off:], b)
}

func truncModel(n *mInode, size int64) {
	n.gen++
	if size <= int64(len(n.data)) {
		n.data = n.data[:size]
		return
	}
	n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
}
