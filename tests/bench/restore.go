package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Restore (issue 16, part 3): a chat backup read back on a new device.
// The tree is written through a mount and unmounted; then, each on a
// fresh device (empty cache), `sealfs restore` and `cp -a` out of a
// read-write mount copy it to a fresh local folder, and a raw minio-go
// parallel GET of the vault's stored data objects is the ceiling,
// measured before and after them.
const (
	rowRawRestore = "raw GET of the backup's objects"
	rowRestore    = "backup restore, sealfs restore"
	rowRestoreCp  = "backup restore, cp -a from a mount"
)

func init() {
	rowOrder = append(rowOrder, rowRawRestore, rowRestore, rowRestoreCp)
}

// backupFile is one file of the backup tree: its path, size and where in
// the pattern its content starts.
type backupFile struct {
	rel  string
	size int64
	base int64
}

// backupTree is the chat-backup-shaped tree: one database, media files
// of 50 KiB to 5 MiB (log-uniform, as photos, voice notes and videos
// mix), and tiny files of up to 4 KiB.
func backupTree(dbMiB, media, tiny int) (files []backupFile, total int64) {
	add := func(rel string, size int64) {
		files = append(files, backupFile{rel: rel, size: size, base: total})
		total += size
	}
	add("Databases/msgstore.db", int64(dbMiB)<<20)
	rng := splitmix(16)
	folders := []string{"WhatsApp Images", "WhatsApp Video", "WhatsApp Voice Notes", "WhatsApp Documents"}
	lo, hi := math.Log(50<<10), math.Log(5<<20)
	for i := range media {
		size := int64(math.Exp(lo + (hi-lo)*float64(rng.next()>>11)/(1<<53)))
		add(filepath.Join("Media", folders[i%len(folders)], fmt.Sprintf("IMG-%05d.jpg", i)), size)
	}
	for i := range tiny {
		add(filepath.Join("Media", ".Statuses", fmt.Sprintf("%04d.nomedia", i)), rng.intn(4<<10+1))
	}
	return files, total
}

// writeBackup writes the tree under dir.
func writeBackup(dir string, p pattern, files []backupFile) error {
	buf := make([]byte, 1<<20)
	for _, f := range files {
		path := filepath.Join(dir, f.rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		out, err := os.Create(path)
		if err != nil {
			return err
		}
		for off := int64(0); off < f.size; off += int64(len(buf)) {
			b := buf[:min(int64(len(buf)), f.size-off)]
			p.fill(b, f.base+off)
			if _, err := out.Write(b); err != nil {
				out.Close()
				return err
			}
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	return nil
}

// checkBackup checks every byte of every file of the tree under dir.
func checkBackup(dir string, p pattern, files []backupFile) error {
	buf := make([]byte, 1<<20)
	for _, f := range files {
		path := filepath.Join(dir, f.rel)
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		fi, err := in.Stat()
		if err == nil && fi.Size() != f.size {
			err = fmt.Errorf("%s: %d bytes, want %d", path, fi.Size(), f.size)
		}
		for off := int64(0); err == nil && off < f.size; off += int64(len(buf)) {
			b := buf[:min(int64(len(buf)), f.size-off)]
			if _, err = in.ReadAt(b, off); err == nil && !p.check(b, f.base+off) {
				err = fmt.Errorf("%s: wrong content at %d", path, off)
			}
		}
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func restoreWorkload(ctx context.Context, e *env, r *report) error {
	dev, err := e.newDevice(ctx)
	if err != nil {
		return err
	}
	files, total := backupTree(e.cfg.RestoreDBMiB, e.cfg.RestoreMedia, e.cfg.RestoreTiny)
	p := newPattern()
	if _, err := e.sealfsPhase(ctx, r, "backup write", dev, false, func(dir string) error {
		return writeBackup(dir, p, files)
	}); err != nil {
		return err
	}
	if err := e.rawRestore(ctx, r, dev, total); err != nil {
		return err
	}
	if err := e.sealfsRestore(ctx, r, dev, p, files, total); err != nil {
		return err
	}
	if err := e.rawRestore(ctx, r, dev, total); err != nil {
		return err
	}
	return e.cpRestore(ctx, r, dev, p, files, total)
}

// rawRestore GETs every data object of dev's vault whole, e.cfg.Parallel
// at a time, and reports the backup's plaintext bytes per second at that
// speed: the ceiling of a restore of the same tree.
func (e *env) rawRestore(ctx context.Context, r *report, dev *device, total int64) error {
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(dev.store, "s3://"), "/")
	var keys []string
	var sizes []int64
	var stored int64
	for o := range e.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + "/data/", Recursive: true}) {
		if o.Err != nil {
			return o.Err
		}
		keys, sizes, stored = append(keys, o.Key), append(sizes, o.Size), stored+o.Size
	}
	name := "raw GET backup"
	if len(r.ceilRuns[rowRawRestore]) > 0 {
		name += " again"
	}
	d, err := e.measure(r, name, func() error {
		return parallel(ctx, len(keys), e.cfg.Parallel, func(i int) error {
			return rawGet(ctx, e, bucket, keys[i], sizes[i])
		})
	})
	if err != nil {
		return err
	}
	r.addCeiling(rowRawRestore, mbps(total, d), "MB/s", fmt.Sprintf("the vault's %d data objects (%.0f MiB stored for %.0f MiB of files), whole, %d at a time; MB/s of file bytes",
		len(keys), mib(stored), mib(total), e.cfg.Parallel))
	return nil
}

// restoreTarget returns a new device of dev's vault and an empty folder
// for a restore on it; the caller removes the folder.
func (e *env) restoreTarget(dev *device) (*device, string, error) {
	fresh, err := dev.sibling()
	if err != nil {
		return nil, "", err
	}
	dest, err := e.tempDir("restore-")
	return fresh, dest, err
}

// sealfsRestore runs `sealfs restore` of the whole vault on a fresh
// device into a fresh folder, times it (unlocking included), and checks
// every byte.
func (e *env) sealfsRestore(ctx context.Context, r *report, dev *device, p pattern, files []backupFile, total int64) error {
	reader, dest, err := e.restoreTarget(dev)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dest)
	args := []string{"restore"}
	if e.cfg.RestorePar > 0 {
		args = append(args, "--parallel", fmt.Sprint(e.cfg.RestorePar))
	}
	args = append(args, reader.store, filepath.Join(dest, "out"))
	cmd := exec.CommandContext(ctx, e.bin, args...)
	if e.cfg.PerfDir != "" { // perf record runs sealfs: RSS and CPU are then perf's and sealfs's
		if err := os.MkdirAll(e.cfg.PerfDir, 0o755); err != nil {
			return err
		}
		cmd = exec.CommandContext(ctx, "perf", append([]string{"record", "-q", "-g", "-o", filepath.Join(e.cfg.PerfDir, "perf-sealfs-restore.data"), "--", e.bin}, args...)...)
	}
	cmd.Env = reader.env()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := e.proxy.snapshot()
	start := time.Now()
	err = cmd.Start()
	var restoring, peak int64
	if err == nil {
		stop := watchRestoreRSS(cmd.Process.Pid, filepath.Join(dest, "out"), &restoring, &peak)
		err = cmd.Wait()
		stop()
	}
	d := time.Since(start)
	if err != nil {
		return fmt.Errorf("sealfs restore: %v: %s", err, strings.TrimSpace(out.String()))
	}
	ph := phase{Name: "sealfs restore", Dur: d, T: e.proxy.snapshot().sub(t0), PeakRSS: peak,
		CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	r.addPhase(ph)
	if err := checkBackup(filepath.Join(dest, "out"), p, files); err != nil {
		return fmt.Errorf("after sealfs restore: %w", err)
	}
	par := "default --parallel"
	if e.cfg.RestorePar > 0 {
		par = fmt.Sprintf("--parallel %d", e.cfg.RestorePar)
	}
	r.set(rowRestore, row{Value: mbps(total, d), Unit: "MB/s", Of: rowRawRestore, AtLeast: 0.8, Target: ">= 0.8x raw GET",
		Detail: fmt.Sprintf("fresh device, %s, unlock to exit, every byte checked after; %d GETs, %.0f MiB down; peak RSS restoring %.0f MiB (target <= 128), %.0f MiB with the Argon2id unlock",
			par, ph.T.Gets, mib(ph.T.Down), mib(restoring), mib(peak))})
	return nil
}

// cpRestore copies the tree out of a fresh read-write mount with cp -a
// (to the unmount) and checks every byte.
func (e *env) cpRestore(ctx context.Context, r *report, dev *device, p pattern, files []backupFile, total int64) error {
	reader, err := dev.sibling()
	if err != nil {
		return err
	}
	dest, err := e.tempDir("cp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dest)
	ph, err := e.sealfsPhase(ctx, r, "backup cp -a", reader, false, func(dir string) error {
		return runTool(ctx, "cp", "-a", dir+"/.", dest)
	})
	if err != nil {
		return err
	}
	if err := checkBackup(dest, p, files); err != nil {
		return fmt.Errorf("after cp -a: %w", err)
	}
	rss := "peak RSS of the mount not measured"
	if ph.PeakRSS > 0 {
		rss = fmt.Sprintf("peak RSS of the mount %.0f MiB", mib(ph.PeakRSS))
	}
	r.set(rowRestoreCp, row{Value: mbps(total, ph.Dur), Unit: "MB/s", Of: rowRawRestore, AtLeast: 0.8, Target: ">= 0.8x raw GET",
		Detail: fmt.Sprintf("fresh device, read-write mount, cp -a of the whole tree to the unmount, every byte checked after; %d GETs, %.0f MiB down; %s",
			ph.T.Gets, mib(ph.T.Down), rss)})
	return nil
}

// env is the environment of a sealfs process of this device.
func (d *device) env() []string {
	env := append(d.e.storeEnv(),
		"HOME="+d.home, "XDG_CACHE_HOME="+filepath.Join(d.home, ".cache"),
		"PATH="+os.Getenv("PATH"), "SEALFS_PASSPHRASE="+benchPassphrase)
	if d.e.cfg.SealfsEnv != "" {
		env = append(env, strings.Split(d.e.cfg.SealfsEnv, ",")...)
	}
	return env
}

// watchRestoreRSS polls the resident set of process pid until stop is
// called, and keeps in *restoring its largest value from when the first
// name appears in dest (the restore has unlocked, loaded the tree and
// started creating it) and in *hwm its peak (VmHWM) from the start.
func watchRestoreRSS(pid int, dest string, restoring, hwm *int64) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	status := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		started := false
		for {
			if !started {
				ents, _ := os.ReadDir(dest)
				started = len(ents) > 0
			}
			if v, ok := procStatus(status, "VmRSS:"); ok && started {
				*restoring = max(*restoring, v)
			}
			if v, ok := procStatus(status, "VmHWM:"); ok {
				*hwm = max(*hwm, v)
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-done }
}
