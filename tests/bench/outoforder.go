package main

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Out-of-order writes (issue 20): how Syncthing, download managers and
// torrent clients fill a file. Each phase writes one new file of
// --ooo-size MiB on the same device: size it with ftruncate, write
// 128 KiB blocks with pwrite in some order, fsync, close, unmount. The
// sequential order is the baseline of the same run; the others are
// reported as bytes uploaded per byte written and time against it.

// oooBlock is Syncthing's block size for files up to 250 MiB.
const oooBlock = 128 << 10

// oooOrders are the write orders after the sequential baseline.
var oooOrders = []struct {
	row, name string
	order     func(n int, r *rand.Rand) []int
}{
	{rowOOORandom, "random", func(n int, r *rand.Rand) []int { return r.Perm(n) }},
	{rowOOOSyncthing, "syncthing", syncthingOrder},
}

// syncthingOrder is the order in which Syncthing 1.19 fills a file of n
// blocks: from a point a third of the way in, wrapping round, its
// parallel block requests landing out of order within a window of 16.
func syncthingOrder(n int, r *rand.Rand) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = (n/3 + i) % n
	}
	const window = 16
	for i := 0; i < n; i += window {
		w := o[i:min(i+window, n)]
		r.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	}
	return o
}

func outOfOrderWorkload(ctx context.Context, e *env, r *report) error {
	dev, err := e.newDevice(ctx)
	if err != nil {
		return err
	}
	dev.memory = e.cfg.OOOMemoryMiB
	size := int64(e.cfg.OOOSizeMiB) << 20
	n := int((size + oooBlock - 1) / oooBlock)
	// Each order writes other content: with identical content every
	// file after the first would be stored once (format 3) and upload
	// nothing, whatever its order.
	patterns := map[string]pattern{}
	rng := rand.New(rand.NewPCG(20, uint64(size)))
	write := func(name string, order []int) (phase, error) {
		patterns[name] = newPattern()
		return e.sealfsPhase(ctx, r, "ooo write "+name, dev, false, func(dir string) error {
			return pwriteInOrder(filepath.Join(dir, "ooo-"+name+".bin"), patterns[name], size, order)
		})
	}
	seqOrder := make([]int, n)
	for i := range seqOrder {
		seqOrder[i] = i
	}
	seq, err := write("sequential", seqOrder)
	if err != nil {
		return err
	}
	for _, o := range oooOrders {
		ph, err := write(o.name, o.order(n, rng))
		if err != nil {
			return err
		}
		// Chunks parked while memory ran short are sealed in the
		// device's staging area and removed once uploaded.
		left, err := stagedLeft(dev.home)
		if err != nil {
			return err
		}
		up := float64(ph.T.Up) / float64(size)
		slower := ph.Dur.Seconds() / seq.Dur.Seconds()
		met := up <= 1.1 && slower <= 2 && left == 0
		rss := "peak RSS n/a"
		if ph.PeakRSS > 0 {
			rss = fmt.Sprintf("peak RSS %.0f MiB", mib(ph.PeakRSS))
		}
		r.set(o.row, row{Value: up, Unit: "x written", Ratio: slower, Target: "<= 1.10x written, <= 2.0x seq time", Met: &met,
			Detail: fmt.Sprintf("%d MiB in 128 KiB pwrites after ftruncate, fsync, umount: %.0f MiB uploaded in %.2fs; "+
				"sequential order %.0f MiB in %.2fs; %s; %d objects left in the staging area after umount", size>>20, mib(ph.T.Up), ph.Dur.Seconds(),
				mib(seq.T.Up), seq.Dur.Seconds(), rss, left)})
	}
	checker, err := dev.sibling()
	if err != nil {
		return err
	}
	_, err = e.sealfsPhase(ctx, r, "ooo check", checker, true, func(dir string) error {
		for _, name := range []string{"sequential", oooOrders[0].name, oooOrders[1].name} {
			if err := readFile(filepath.Join(dir, "ooo-"+name+".bin"), patterns[name], size); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// pwriteInOrder creates path, sizes it with ftruncate and writes p's
// content in 128 KiB blocks in order with pwrite, then fsyncs and closes.
func pwriteInOrder(path string, p pattern, size int64, order []int) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	buf := make([]byte, oooBlock)
	for _, b := range order {
		off := int64(b) * oooBlock
		blk := buf[:min(oooBlock, size-off)]
		p.fill(blk, off)
		if _, err := f.WriteAt(blk, off); err != nil {
			return fmt.Errorf("pwrite at %d: %w", off, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return f.Close()
}

// stagedLeft counts the sealed objects in the staging areas under a
// device's home (<cache dir>/stage/objects, docs/FORMAT.md).
func stagedLeft(home string) (int, error) {
	n := 0
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dir := filepath.Dir(p)
		if d.Type().IsRegular() && filepath.Base(dir) == "objects" && filepath.Base(filepath.Dir(dir)) == "stage" {
			n++
		}
		return nil
	})
	return n, err
}
