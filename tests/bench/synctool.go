package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The sync-tool pattern (issue 16 part 2): what Syncthing, rsync --fsync
// and app backup writers do with each file: write it under a temporary
// name, fsync it, rename it into place; here --sync-writers writers at
// once, --sync-files files of --sync-kib KiB in all. Each file is durable
// when its fsync returns, so the fair ceiling is the raw PUT of the same
// objects with the same number of clients: one PUT per file.

// syncToolWorkload measures the pattern through a mount against that
// ceiling, then checks every file on another device.
func syncToolWorkload(ctx context.Context, e *env, r *report) error {
	n, writers := e.cfg.SyncFiles, e.cfg.SyncWriters
	fsize := int64(e.cfg.SyncKiB) << 10
	p := newPattern()
	bucket, err := e.newBucket(ctx)
	if err != nil {
		return err
	}
	raw, err := e.measure(r, "raw sync-tool PUT", func() error {
		return parallel(ctx, n, writers, func(i int) error {
			buf := make([]byte, fsize)
			p.fill(buf, fileAt(i, fsize))
			return rawPut(ctx, e, bucket, fmt.Sprintf("sync/%05d", i), buf)
		})
	})
	if err != nil {
		return err
	}
	r.addCeiling(rowRawSyncPut, float64(n)/raw.Seconds(), "objects/s",
		fmt.Sprintf("%d objects of %d KiB, %d at a time", n, e.cfg.SyncKiB, writers))

	dev, err := e.newDevice(ctx)
	if err != nil {
		return err
	}
	var took time.Duration
	ph, err := e.sealfsPhase(ctx, r, "sync-tool write", dev, false, func(dir string) error {
		start := time.Now()
		err := syncToolWrite(dir, p, n, writers, fsize)
		took = time.Since(start)
		return err
	})
	if err != nil {
		return err
	}
	r.set(rowSyncTool, row{Value: float64(n) / took.Seconds(), Unit: "files/s", Of: rowRawSyncPut, AtLeast: 1, Target: ">= 1.0x raw PUT",
		Detail: fmt.Sprintf("%d files of %d KiB, %d writers: write a temporary name, fsync, rename; %.2fs to the last rename "+
			"(%.2fs to umount), %d PUTs, %.1f MiB up", n, e.cfg.SyncKiB, writers, took.Seconds(), ph.Dur.Seconds(), ph.T.Puts, mib(ph.T.Up))})
	checker, err := dev.sibling()
	if err != nil {
		return err
	}
	_, err = e.sealfsPhase(ctx, r, "sync-tool check", checker, true, func(dir string) error {
		for i := range n {
			if err := checkFileAt(syncToolPath(dir, i), p, i, fsize); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

func syncToolPath(dir string, i int) string {
	return filepath.Join(dir, "Backups", fmt.Sprintf("part-%05d.bin", i))
}

// syncToolWrite writes files 0..n-1, writer w taking every writers-th,
// each to a temporary name, fsynced, then renamed into place.
func syncToolWrite(dir string, p pattern, n, writers int, fsize int64) error {
	if err := os.MkdirAll(filepath.Join(dir, "Backups"), 0o755); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, fsize)
			for i := w; i < n && errs[w] == nil; i += writers {
				p.fill(buf, fileAt(i, fsize))
				errs[w] = syncToolFile(syncToolPath(dir, i), buf)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func syncToolFile(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
