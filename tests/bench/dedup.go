package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/sealfs/sealfs/crypt"
)

// dedupWorkload measures issue 21's "done when" sizes through a real
// mount: a copy of the big file (--dedup-size MiB) made with cp inside the
// mount, "cp -r" of a folder of --dedup-photos random photos (log-uniform
// around --dedup-photo-kib: 1-4 MiB by default, as a phone's), and a
// repeated 64 MiB file written from the program and fsynced: how long
// until it is durable, next to the first time the same bytes were
// written (both in the same mount, each fsynced).
func dedupWorkload(ctx context.Context, e *env, r *report) error {
	dev, err := e.newDevice(ctx)
	if err != nil {
		return err
	}
	size := int64(e.cfg.DedupMiB) << 20
	var photoBytes int64
	dw, err := e.sealfsPhase(ctx, r, "dedup write", dev, false, func(dir string) error {
		if err := writeRandom(filepath.Join(dir, "big.bin"), size, 1, false); err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(21, 4))
		base := float64(e.cfg.DedupPhotoKiB << 10)
		lo, hi := math.Log(base/2), math.Log(base*2)
		for i := range e.cfg.DedupPhotos {
			n := int64(math.Exp(lo + rng.Float64()*(hi-lo)))
			photoBytes += n
			if err := writeRandom(filepath.Join(dir, "DCIM", fmt.Sprintf("IMG_%04d.jpg", i)), n, uint64(100+i), false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	var copyUp, treeUp traffic
	cp, err := e.sealfsPhase(ctx, r, "dedup cp", dev, false, func(dir string) error {
		t0 := e.proxy.snapshot()
		if err := runTool(ctx, "cp", filepath.Join(dir, "big.bin"), filepath.Join(dir, "big copy.bin")); err != nil {
			return err
		}
		if err := runTool(ctx, "sync", "-f", filepath.Join(dir, "big copy.bin")); err != nil {
			return err
		}
		t1 := e.proxy.snapshot()
		copyUp = t1.sub(t0)
		if err := runTool(ctx, "cp", "-r", filepath.Join(dir, "DCIM"), filepath.Join(dir, "DCIM copy")); err != nil {
			return err
		}
		if err := runTool(ctx, "sync", "-f", filepath.Join(dir, "DCIM copy")); err != nil {
			return err
		}
		treeUp = e.proxy.snapshot().sub(t1)
		return nil
	})
	if err != nil {
		return err
	}
	// What umount committed after the copies counts with the folder's.
	treeUp.DataUp += cp.T.DataUp - copyUp.DataUp - treeUp.DataUp
	v := mib(copyUp.DataUp)
	r.set(rowDedupCopy, row{Value: v, Unit: "MiB", Text: fmt.Sprintf("%.3f MiB", v), Target: "< 1 MiB", Met: atMost(v, 0.999),
		Detail: fmt.Sprintf("cp of a %d MiB random file inside the mount, then sync -f: data PUT bytes (%.3f MiB all PUTs, %d PUTs)",
			e.cfg.DedupMiB, mib(copyUp.Up), copyUp.Puts)})
	v = 100 * float64(treeUp.DataUp) / float64(photoBytes)
	r.set(rowDedupTree, row{Value: v, Unit: "%", Text: fmt.Sprintf("%.3f %%", v), Target: "< 2 % of the folder", Met: atMost(v, 1.999),
		Detail: fmt.Sprintf("cp -r of %d random photos (%.1f MiB, log-uniform %d-%d KiB) inside the mount, to umount: %.2f MiB data PUT",
			e.cfg.DedupPhotos, mib(photoBytes), e.cfg.DedupPhotoKiB/2, e.cfg.DedupPhotoKiB*2, mib(treeUp.DataUp))})

	seal, hash := hashCost()
	perMiB := time.Duration(0)
	if dw.WorkCPU > 0 {
		perMiB = dw.WorkCPU / time.Duration((size+photoBytes)>>20)
	}
	v = float64(hash) / float64(seal)
	detail := fmt.Sprintf("thread CPU per MiB of 4 MiB chunks, least of 9 alternated rounds: keyed content hash %s, seal (AES-256-GCM) %s; ", us(hash), us(seal))
	if perMiB > 0 {
		detail += fmt.Sprintf("the mount's CPU per MiB written in 'dedup write' %s: the hash is %.1f %% of it (the most a CPU-bound write slows down)",
			us(perMiB), 100*float64(hash)/float64(perMiB))
	} else {
		detail += "the mount's CPU not measured (in-process mount)"
	}
	r.set(rowDedupHash, row{Value: v, Unit: "x seal", Text: fmt.Sprintf("%.2f x seal", v), Detail: detail})

	var first, again time.Duration
	var firstUp, againUp traffic
	const repeat = 64 << 20
	if _, err := e.sealfsPhase(ctx, r, "dedup repeat", dev, false, func(dir string) error {
		var err error
		if first, firstUp, err = e.timedWrite(filepath.Join(dir, "repeat 1.bin"), repeat); err != nil {
			return err
		}
		again, againUp, err = e.timedWrite(filepath.Join(dir, "repeat 2.bin"), repeat)
		return err
	}); err != nil {
		return err
	}
	s := again.Seconds()
	r.set(rowDedupRepeat, row{Value: s, Unit: "s", Ratio: first.Seconds() / s, Target: "< 1 s", Met: atMost(s, 0.999),
		Detail: fmt.Sprintf("write + fsync of a 64 MiB file whose bytes the mount already stored: %.2fs, %.3f MiB data PUT; "+
			"the first time %.2fs, %.1f MiB (ratio = first / repeated)", s, mib(againUp.DataUp), first.Seconds(), mib(firstUp.DataUp))})
	return nil
}

// timedWrite writes the 64 MiB file of seed 7 in 1 MiB writes, fsyncs it
// and returns how long that took and the bucket traffic meanwhile.
func (e *env) timedWrite(path string, size int64) (time.Duration, traffic, error) {
	t0 := e.proxy.snapshot()
	start := time.Now()
	err := writeRandom(path, size, 7, true)
	return time.Since(start), e.proxy.snapshot().sub(t0), err
}

// writeRandom writes size random bytes named by seed to path (making its
// folder), in 1 MiB writes; fsync if sync.
func writeRandom(path string, size int64, seed uint64, sync bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, ioSize)
	var key [32]byte
	key[0], key[8] = 'd', byte(seed)
	key[9] = byte(seed >> 8)
	src := rand.NewChaCha8(key)
	for off := int64(0); off < size; off += ioSize {
		b := buf[:min(ioSize, size-off)]
		_, _ = src.Read(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// hashCost is the thread CPU time per MiB of sealing a 4 MiB chunk and of
// its keyed content id (crypt.ContentObjectID), the least of alternated
// rounds.
func hashCost() (seal, hash time.Duration) {
	var master crypt.Key
	k := crypt.DeriveKeys(master, crypt.SuiteAES256GCM, crypt.DefaultChunkSize)
	pt := make([]byte, crypt.DefaultChunkSize)
	_, _ = rand.NewChaCha8([32]byte{'h'}).Read(pt)
	id := crypt.ContentObjectID(k, pt)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	seal, hash = time.Duration(1<<62), time.Duration(1<<62)
	for range 9 {
		seal = min(seal, bestCPU(1, func() { _, _ = crypt.SealObject(k, id, pt) }))
		hash = min(hash, bestCPU(1, func() { _ = crypt.ContentObjectID(k, pt) }))
	}
	return seal / 4, hash / 4
}
