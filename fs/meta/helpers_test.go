package meta

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

func testKeys() *crypt.Keys {
	var master crypt.Key
	copy(master[:], "meta test master key, 32 bytes!!")
	return crypt.DeriveKeys(master, crypt.SuiteAES256GCM, testChunk)
}

// newVault creates a vault on s holding the fixture tree.
func newVault(tb testing.TB, s remote.Store, opts LogOptions) (*fixture, *Log) {
	tb.Helper()
	fx := newFixture(tb)
	if opts.MountID == "" {
		opts.MountID = "mount-1"
	}
	l, err := Create(context.Background(), s, testKeys(), fx.t, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return fx, l
}

func reopen(tb testing.TB, s remote.Store) (*Tree, *Log) {
	tb.Helper()
	t, l, err := Open(context.Background(), s, testKeys(), LogOptions{MountID: "mount-2"})
	if err != nil {
		tb.Fatal(err)
	}
	return t, l
}

// dump renders the linked part of a tree (inodes with nlink > 0) in a
// canonical text form, for comparing a live tree with a reloaded one.
func dump(t *Tree) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var b strings.Builder
	nodes := nodesView(t)
	for _, ino := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[ino]
		if n.attr.Nlink == 0 && ino != RootIno {
			continue
		}
		fmt.Fprintf(&b, "%d %+v target=%q parent=%d ext=%v\n", ino, n.attr, n.target, n.parent, n.extents)
		for _, k := range slices.Sorted(maps.Keys(n.xattrs)) {
			fmt.Fprintf(&b, "  xattr %q=%q\n", k, n.xattrs[k])
		}
		names := slices.Collect(maps.Keys(n.entries))
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(&b, "  %q -> %d\n", name, n.entries[name])
		}
	}
	f, d, by := t.files, t.dirs, t.bytes
	fmt.Fprintf(&b, "stats %d %d %d\n", f, d, by)
	return b.String()
}

// linkedStats is Stats without inodes of nlink 0 (which a reload drops).
func sameTree(tb testing.TB, live, loaded *Tree) {
	tb.Helper()
	a, b := dumpLinked(live), dumpLinked(loaded)
	if a != b {
		tb.Fatalf("reloaded tree differs:\n--- live\n%s\n--- loaded\n%s", a, b)
	}
}

// dumpLinked is dump without the stats line, which counts open unlinked files.
func dumpLinked(t *Tree) string {
	s := dump(t)
	return s[:strings.LastIndex(s, "stats ")]
}

// nodeView is one inode of a tree in plain maps and slices, for tests
// that walk the tree's internals.
type nodeView struct {
	attr    Attr
	target  string
	xattrs  map[string][]byte
	extents []Extent
	parent  Ino            // directories: the one directory holding it
	entries map[string]Ino // directories
}

// nodesView returns every inode of t as a nodeView. The caller holds t.mu.
func nodesView(t *Tree) map[Ino]*nodeView {
	out := make(map[Ino]*nodeView, t.ins.len())
	t.ins.each(func(ino Ino, r *rec) {
		v := &nodeView{attr: r.attr, target: t.ins.targets[ino], xattrs: t.ins.xattrs[ino]}
		if r.next > 0 {
			v.extents = slices.Clone(t.ins.extents(r))
		}
		if d := t.ins.dirs[ino]; d != nil {
			v.parent = d.parent
			v.entries = map[string]Ino{}
			d.each(func(name string, c Ino) { v.entries[name] = c })
		}
		out[ino] = v
	})
	return out
}

// applyBatch applies decoded ops to a tree being loaded, as Log.load
// applies a batch it decodes (applyOps).
func (t *Tree) applyBatch(b *batch) error {
	ops := b.ops
	return t.applyOps(func() *op {
		if len(ops) == 0 {
			return nil
		}
		o := ops[0]
		ops = ops[1:]
		return o
	})
}

// followCommit commits the writer w's changes through l, has the follower
// fol load them onto cur, and checks the followed tree against a fresh
// load of the store; it returns the followed tree.
func followCommit(t *testing.T, s remote.Store, l *Log, w *Tree, fol *Follower, cur *Tree, name string) *Tree {
	t.Helper()
	ctx := context.Background()
	if _, err := l.Commit(ctx, w); err != nil {
		t.Fatalf("%s: commit: %v", name, err)
	}
	if _, err := fol.Peek(ctx); err != nil {
		t.Fatalf("%s: peek: %v", name, err)
	}
	next, err := fol.Load(ctx, cur)
	if err != nil {
		t.Fatalf("%s: follow: %v", name, err)
	}
	want, _ := reopen(t, s)
	if a, b := dumpLinked(next), dumpLinked(want); a != b {
		t.Fatalf("%s: followed tree differs from a fresh load:\n--- followed\n%s\n--- loaded\n%s", name, a, b)
	}
	return next
}

// encodeSnapshotLocked is the checkpoint's encoding whole, uncompressed
// (writeSnapshotLocked): what tests decode and measure.
func (t *Tree) encodeSnapshotLocked(seq uint64, suite crypt.Suite) []byte {
	var out []byte
	t.writeSnapshotLocked(seq, suite, func(b []byte) { out = append(out, b...) })
	return out
}
