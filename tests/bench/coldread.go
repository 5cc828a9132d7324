package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Rows of the cold read through the default, read-write mount and of the
// mount's CPU; they follow the read-only cold read in the table.
const (
	rowSeqReadRW  = "cold read, read-write mount, 128 KiB reads"
	rowSeqReadCp  = "cold read, read-write mount, cp"
	rowSeqReadSum = "cold read, read-write mount, sha256sum"
	rowReadCPU    = "mount CPU per MiB, cold read"
	rowWriteCPU   = "mount CPU per MiB, sequential write"
)

func init() {
	i := slices.Index(rowOrder, rowSeqRead) + 1
	rowOrder = slices.Insert(rowOrder, i, rowSeqReadRW, rowSeqReadCp, rowSeqReadSum, rowReadCPU, rowWriteCPU)
}

// coldReadRW reads the big file as a user of the default mount would on a
// new device: a read-write mount (the kernel's page cache and read-ahead
// in front of sealfs, unlike the read-only mount's direct I/O) and
// ordinary tools, each after a remount on a fresh device so that nothing
// is cached. sha256sum also checks the content.
func coldReadRW(ctx context.Context, e *env, r *report, dev *device, p pattern, size int64) error {
	sum := sha256.New()
	buf := make([]byte, ioSize)
	for off := int64(0); off < size; off += ioSize {
		b := buf[:min(ioSize, size-off)]
		p.fill(b, off)
		sum.Write(b)
	}
	want := hex.EncodeToString(sum.Sum(nil))
	type tool struct {
		row, phase, detail string
		run                func(path string) error
		atLeast            float64
	}
	tools := []tool{
		{rowSeqReadRW, "cold read rw 128k", "read(2) of 128 KiB (st_blksize), nothing else", func(path string) error {
			return readAll(path, 128<<10, size)
		}, 0.9},
		{rowSeqReadCp, "cold read rw cp", "cp FILE /dev/null", func(path string) error {
			return runTool(ctx, "cp", path, "/dev/null")
		}, 0},
		{rowSeqReadSum, "cold read rw sha256sum", "sha256sum FILE, checked (the hashing shares the client CPU)", func(path string) error {
			out, err := exec.CommandContext(ctx, "sha256sum", path).Output()
			if err != nil {
				return fmt.Errorf("sha256sum: %w", err)
			}
			if got, _, _ := strings.Cut(string(out), " "); got != want {
				return fmt.Errorf("sha256sum of the big file after a remount: %s, want %s", got, want)
			}
			return nil
		}, 0},
	}
	for _, t := range tools {
		reader, err := dev.sibling()
		if err != nil {
			return err
		}
		ph, err := e.sealfsPhase(ctx, r, t.phase, reader, false, func(dir string) error {
			return t.run(filepath.Join(dir, "big.bin"))
		})
		if err != nil {
			return err
		}
		rw := row{Value: mbps(size, ph.Dur), Unit: "MB/s", Of: rowRawGet,
			Detail: fmt.Sprintf("fresh device, read-write mount, %s; %.0f MiB downloaded; %s",
				t.detail, mib(ph.T.Down), e.cpuDetail(ph.WorkCPU, size, e.floor.read()))}
		if t.atLeast > 0 {
			rw.AtLeast, rw.Target = t.atLeast, fmt.Sprintf(">= %.2fx raw GET", t.atLeast)
		}
		r.set(t.row, rw)
		if t.row == rowSeqReadRW {
			r.rwReadCPU = ph.WorkCPU
		}
	}
	return nil
}

// cpuDetail describes a mount's CPU time for n bytes of file data next
// to the floor per MiB.
func (e *env) cpuDetail(cpu time.Duration, n int64, floor time.Duration) string {
	if cpu <= 0 {
		return "mount CPU not measured"
	}
	per := cpu / time.Duration(max(1, n>>20))
	return fmt.Sprintf("mount CPU %s/MiB, %.1fx the floor (%s)", us(per), float64(per)/float64(floor), us(floor))
}

// setCPURows reports the mount's CPU per MiB of the sequential write and
// of the cold reads against the floor (pin.go).
func (e *env) setCPURows(r *report, write, readRO time.Duration, size int64) {
	mibs := time.Duration(max(1, size>>20))
	set := func(name string, cpu, fl time.Duration, target float64, what string) {
		if cpu <= 0 {
			r.set(name, row{Text: "n/a", Detail: "not measured (in-process mount, or the mount process was not found)"})
			return
		}
		per := cpu / mibs
		rw := row{Value: float64(per) / float64(time.Microsecond), Unit: "µs",
			Ratio:  float64(per) / float64(fl),
			Detail: fmt.Sprintf("%s; ratio to a floor of %s/MiB (%s)", what, us(fl), e.floor)}
		if target > 0 {
			rw.Target, rw.Met = fmt.Sprintf("<= %.1fx floor", target), atMost(rw.Ratio, target)
		}
		r.set(name, rw)
	}
	read := fmt.Sprintf("read-only mount, 1 MiB reads: %s/MiB", us(readRO/mibs))
	if r.rwReadCPU > 0 {
		read += fmt.Sprintf("; read-write mount, 128 KiB reads: %s/MiB; the larger", us(r.rwReadCPU/mibs))
	}
	set(rowReadCPU, max(readRO, r.rwReadCPU), e.floor.read(), 2, read)
	set(rowWriteCPU, write, e.floor.write(), 0, "utime+stime of the daemon from mount to exit")
}

// readAll reads path to its end in reads of n bytes and checks its size.
func readAll(path string, n int, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, n)
	var got int64
	for {
		k, err := f.Read(buf)
		got += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read at %d: %w", got, err)
		}
	}
	if got != size {
		return fmt.Errorf("%s: read %d bytes, want %d", path, got, size)
	}
	return nil
}

func runTool(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
