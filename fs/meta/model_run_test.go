package meta

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
)

var modelSeed = flag.Uint64("meta.seed", 0, "seed of TestModel (0 = from the clock)")

func TestModel(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	steps := 6000
	if testing.Short() || raceEnabled {
		steps = 2000
	}
	for run := range 3 {
		s := seed + uint64(run)
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			summary, err := runModel(s, steps, remote.NewMemory())
			if err != nil {
				t.Fatalf("seed %d (rerun: go test ./fs/meta -run TestModel -meta.seed=%d): %v", s, s, err)
			}
			t.Log(summary)
		})
	}
}

func runModel(seed uint64, steps int, store remote.Store) (summary string, err error) {
	ok, failed := map[string]int{}, map[string]int{}
	maxInodes := 0
	defer func() {
		summary = fmt.Sprintf("ok %v, errors %v, max inodes %d", ok, failed, maxInodes)
	}()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	k := testKeys()
	tr := NewTree(testChunk, 0, 0, 0)
	lopts := LogOptions{SnapshotEvery: 1 + rng.IntN(8), Rand: rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})}
	// Half the seeds compact the journal only by merging batches (the
	// model's trees are small: the others mostly write checkpoints).
	lopts.mergeAlways = seed%2 == 0
	log, err := Create(ctx, store, k, tr, lopts)
	if err != nil {
		return "", err
	}
	m := newModel()
	names := []string{"a", "b", "c", "d", "e", "f"}
	pickIno := func() Ino {
		inos := slices.Sorted(maps.Keys(m.nodes))
		if rng.IntN(20) == 0 {
			return m.next + 5 // missing
		}
		return inos[rng.IntN(len(inos))]
	}
	name := func() string { return names[rng.IntN(len(names))] }
	pickDir := func() Ino {
		var dirs []Ino
		for _, ino := range slices.Sorted(maps.Keys(m.nodes)) {
			if m.isDir(ino) {
				dirs = append(dirs, ino)
			}
		}
		if rng.IntN(8) == 0 {
			return pickIno()
		}
		return dirs[rng.IntN(len(dirs))]
	}
	pickFile := func() Ino {
		var files []Ino
		for _, ino := range slices.Sorted(maps.Keys(m.nodes)) {
			if m.nodes[ino].mode&syscall.S_IFMT == syscall.S_IFREG {
				files = append(files, ino)
			}
		}
		if len(files) == 0 || rng.IntN(5) == 0 {
			return pickIno()
		}
		return files[rng.IntN(len(files))]
	}
	// pickEntry picks a directory and, mostly, one of its names.
	pickEntry := func() (Ino, string) {
		p := pickDir()
		if n := m.nodes[p]; n != nil && len(n.entries) > 0 && rng.IntN(4) != 0 {
			ents := slices.Sorted(maps.Keys(n.entries))
			return p, ents[rng.IntN(len(ents))]
		}
		return p, name()
	}
	for step := range steps {
		now := int64(step + 1)
		var desc string
		var got, want error
		switch r := rng.IntN(100); {
		case r < 15:
			p, nm, mode := pickDir(), name(), uint32(rng.IntN(0o1000))
			desc = fmt.Sprintf("Create(%d, %q)", p, nm)
			var in Inode
			in, got = tr.Create(p, nm, mode, 0, 0, now)
			var ino Ino
			ino, want = m.add(p, nm, &mnode{mode: syscall.S_IFREG | mode, ext: map[uint64]Extent{}})
			if got == nil && in.Ino != ino {
				return "", fmt.Errorf("step %d %s: inode %d, model %d", step, desc, in.Ino, ino)
			}
		case r < 25:
			p, nm := pickDir(), name()
			desc = fmt.Sprintf("Mkdir(%d, %q)", p, nm)
			_, got = tr.Mkdir(p, nm, 0o755, 0, 0, now)
			_, want = m.add(p, nm, &mnode{mode: syscall.S_IFDIR | 0o755, entries: map[string]Ino{}})
		case r < 28:
			p, nm, target := pickDir(), name(), "t"+name()
			desc = fmt.Sprintf("Symlink(%d, %q)", p, nm)
			_, got = tr.Symlink(p, nm, target, 0, 0, now)
			_, want = m.add(p, nm, &mnode{mode: syscall.S_IFLNK | 0o777, target: target, size: uint64(len(target))})
		case r < 33:
			ino, p, nm := pickIno(), pickDir(), name()
			desc = fmt.Sprintf("Link(%d, %d, %q)", ino, p, nm)
			_, got = tr.Link(ino, p, nm, now)
			switch n := m.nodes[ino]; {
			case n == nil || m.nlink(ino) == 0:
				want = syscall.ENOENT
			case m.isDir(ino):
				want = syscall.EPERM
			default:
				var pn *mnode
				if pn, want = m.freeName(p, nm); want == nil {
					pn.entries[nm] = ino
				}
			}
		case r < 43:
			p, nm := pickEntry()
			desc = fmt.Sprintf("Unlink(%d, %q)", p, nm)
			_, got = tr.Unlink(p, nm, now)
			want = m.unlink(p, nm, false)
		case r < 48:
			p, nm := pickEntry()
			desc = fmt.Sprintf("Rmdir(%d, %q)", p, nm)
			got = tr.Rmdir(p, nm, now)
			want = m.unlink(p, nm, true)
		case r < 63:
			op, on := pickEntry()
			np, nn := pickEntry()
			flags := []uint32{0, 0, RenameNoReplace, RenameExchange}[rng.IntN(4)]
			desc = fmt.Sprintf("Rename(%d, %q, %d, %q, %d)", op, on, np, nn, flags)
			var gr, wr Ino
			gr, got = tr.Rename(op, on, np, nn, flags, now)
			wr, want = m.rename(op, on, np, nn, flags)
			if got == nil && want == nil && gr != wr {
				return "", fmt.Errorf("step %d %s: replaced %d, model %d", step, desc, gr, wr)
			}
		case r < 70:
			ino, size := pickFile(), uint64(rng.IntN(5*testChunk))
			desc = fmt.Sprintf("Truncate(%d, %d)", ino, size)
			_, got = tr.SetAttr(ino, SetAttrIn{Size: &size, Mode: ptr(uint32(0o640))}, now)
			want = m.setData(ino, size, nil)
		case r < 82:
			ino, size := pickFile(), uint64(rng.IntN(5*testChunk))
			sets := map[int64]Extent{}
			for range rng.IntN(4) {
				i := rng.IntN(5)
				e := Extent{}
				if rng.IntN(4) != 0 {
					l := uint32(1 + rng.IntN(testChunk))
					e = ext(byte(1+rng.IntN(250)), l+10, 10, l)
				}
				sets[int64(i)] = e
			}
			desc = fmt.Sprintf("SetFileData(%d, %d, %v)", ino, size, sets)
			got = tr.SetFileData(ino, size, sets, now)
			want = m.setData(ino, size, sets)
		case r < 88:
			ino, nm, flags := pickIno(), "user."+name(), uint32(rng.IntN(3))
			val := name() + name()
			desc = fmt.Sprintf("SetXattr(%d, %q, %d)", ino, nm, flags)
			got = tr.SetXattr(ino, nm, []byte(val), flags, now)
			want = m.setXattr(ino, nm, val, flags)
		case r < 91:
			ino, nm := pickIno(), "user."+name()
			desc = fmt.Sprintf("RemoveXattr(%d, %q)", ino, nm)
			got = tr.RemoveXattr(ino, nm, now)
			if n := m.nodes[ino]; n == nil {
				want = syscall.ENOENT
			} else if _, ok := n.xattrs[nm]; !ok {
				want = syscall.ENODATA
			} else {
				delete(n.xattrs, nm)
			}
		case r < 95:
			ino := pickIno()
			desc = fmt.Sprintf("Release(%d)", ino)
			tr.Release(ino)
			if m.nodes[ino] != nil && ino != RootIno && m.nlink(ino) == 0 {
				delete(m.nodes, ino)
			}
		default:
			desc = "Commit"
			if _, err := log.Commit(ctx, tr); err != nil {
				return "", fmt.Errorf("step %d: commit: %v", step, err)
			}
			loaded, l2, err := Open(ctx, store, k, lopts)
			if err != nil {
				return "", fmt.Errorf("step %d: open: %v", step, err)
			}
			if a, b := dumpLinked(tr), dumpLinked(loaded); a != b {
				return "", fmt.Errorf("step %d: reloaded tree differs:\n--- live\n%s\n--- loaded\n%s", step, a, b)
			}
			if rng.IntN(3) == 0 { // remount: go on with the loaded tree
				tr, log = loaded, l2
				m.dropOrphans()
			}
		}
		if got != want {
			return "", fmt.Errorf("step %d %s: err %v, model %v", step, desc, got, want)
		}
		if err := m.check(tr); err != nil {
			return "", fmt.Errorf("step %d after %s: %v", step, desc, err)
		}
		op, _, _ := strings.Cut(desc, "(")
		if got == nil {
			ok[op]++
		} else {
			failed[op]++
		}
		maxInodes = max(maxInodes, len(m.nodes))
	}
	return "", nil
}
