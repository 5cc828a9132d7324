package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// smallWorkload writes many small files in folders, as a chat app's media
// folder would fill, then reads them all cold on another device.
func smallWorkload(ctx context.Context, e *env, r *report) error {
	dev, err := e.newDevice(ctx)
	if err != nil {
		return err
	}
	fsize := int64(e.cfg.FileKiB) << 10
	p := newPattern()
	w, err := e.sealfsPhase(ctx, r, "small write", dev, false, func(dir string) error {
		return writeSmall(dir, p, e.cfg.Files, e.cfg.Dirs, fsize)
	})
	if err != nil {
		return err
	}
	v := float64(e.cfg.Files) / w.Dur.Seconds()
	r.set(rowSmallWrite, row{Value: v, Unit: "files/s", Of: rowRawSmallPut, AtLeast: 1.5, Target: ">= 1.5x raw PUT",
		Detail: fmt.Sprintf("%d files of %d KiB in %d folders, one writer, then umount; %d PUTs", e.cfg.Files, e.cfg.FileKiB, e.cfg.Dirs, w.T.Puts)})
	reader, err := dev.sibling()
	if err != nil {
		return err
	}
	rd, err := e.sealfsPhase(ctx, r, "small cold read", reader, true, func(dir string) error {
		return readSmall(dir, p, e.cfg.Files, e.cfg.Dirs, fsize)
	})
	if err != nil {
		return err
	}
	v = float64(e.cfg.Files) / rd.Dur.Seconds()
	r.set(rowSmallRead, row{Value: v, Unit: "files/s", Of: rowRawSmallGet,
		Detail: fmt.Sprintf("fresh device, read-only, one reader, content checked; %d GETs", rd.T.Gets)})
	return nil
}

func smallPath(dir string, i, dirs int) string {
	return filepath.Join(dir, fmt.Sprintf("folder%02d", i%dirs), fmt.Sprintf("IMG-%05d.jpg", i))
}

func writeSmall(dir string, p pattern, files, dirs int, fsize int64) error {
	for d := range dirs {
		if err := os.MkdirAll(filepath.Dir(smallPath(dir, d, dirs)), 0o755); err != nil {
			return err
		}
	}
	buf := make([]byte, fsize)
	for i := range files {
		p.fill(buf, fileAt(i, fsize))
		if err := os.WriteFile(smallPath(dir, i, dirs), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func readSmall(dir string, p pattern, files, dirs int, fsize int64) error {
	for i := range files {
		if err := checkFileAt(smallPath(dir, i, dirs), p, i, fsize); err != nil {
			return err
		}
	}
	return nil
}

// fileAt is where in p the i-th of a set of files of fsize bytes starts:
// each has pattern blocks of its own, so no two are identical (format 3
// would store a copy once and the workload would measure nothing).
func fileAt(i int, fsize int64) int64 { return int64(i) * max(fsize, patternBlock) }

// checkFileAt reads path and checks that it is the i-th file of fsize
// bytes of p (fileAt).
func checkFileAt(path string, p pattern, i int, fsize int64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if int64(len(b)) != fsize || !p.check(b, fileAt(i, fsize)) {
		return fmt.Errorf("%s: wrong content after remount", path)
	}
	return nil
}

// renameWorkload times the rename(2) of a committed folder of many files
// and of a folder of 10, then checks the result on another device.
func renameWorkload(ctx context.Context, e *env, r *report) error {
	dev, err := e.newDevice(ctx)
	if err != nil {
		return err
	}
	const fsize = 4 << 10
	p := newPattern()
	n := e.cfg.RenameFiles
	if _, err := e.sealfsPhase(ctx, r, "rename setup", dev, false, func(dir string) error {
		if err := writeSmall(filepath.Join(dir, "media"), p, n, 1, fsize); err != nil {
			return err
		}
		return writeSmall(filepath.Join(dir, "few"), p, 10, 1, fsize)
	}); err != nil {
		return err
	}
	var big, small time.Duration
	ph, err := e.sealfsPhase(ctx, r, "rename", dev, false, func(dir string) error {
		var err error
		if big, err = timeRename(filepath.Join(dir, "media"), filepath.Join(dir, "media.old")); err != nil {
			return err
		}
		small, err = timeRename(filepath.Join(dir, "few"), filepath.Join(dir, "few.old"))
		return err
	})
	if err != nil {
		return err
	}
	ms := big.Seconds() * 1000
	r.set(rowRename, row{Value: ms, Unit: "ms", Target: "<= 50 ms", Met: atMost(ms, 50),
		Detail: fmt.Sprintf("rename(2) of a committed folder of %d files; the whole phase to umount %.2fs, %d PUTs", n, ph.Dur.Seconds(), ph.T.Puts)})
	r.set(rowRenameSmall, row{Value: small.Seconds() * 1000, Unit: "ms", Detail: "rename(2) of a folder of 10 files, same mount"})
	checker, err := dev.sibling()
	if err != nil {
		return err
	}
	_, err = e.sealfsPhase(ctx, r, "rename check", checker, true, func(dir string) error {
		if _, err := os.Stat(filepath.Join(dir, "media")); !os.IsNotExist(err) {
			return fmt.Errorf("old folder still there after rename and remount (stat: %v)", err)
		}
		return readSmall(filepath.Join(dir, "media.old"), p, n, 1, fsize)
	})
	return err
}

func timeRename(from, to string) (time.Duration, error) {
	start := time.Now()
	err := os.Rename(from, to)
	return time.Since(start), err
}
