package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// sealfsPhase mounts d, runs f on the mountpoint and unmounts. The phase's
// time runs from the start of f until the unmount returned, so a write
// counts only once it is durable in the bucket; mounting is not timed. The
// traffic is everything between the mount and the end of the unmount.
// With --profile the phase's CPU profile goes to DIR/cpu-<name>.pprof.
func (e *env) sealfsPhase(ctx context.Context, r *report, name string, d *device, readOnly bool, f func(dir string) error) (phase, error) {
	m, err := d.mount(ctx, readOnly)
	if err != nil {
		return phase{}, fmt.Errorf("%s: %w", name, err)
	}
	stopProfile, err := e.startProfile(name)
	if err != nil {
		_ = m.Unmount()
		return phase{}, err
	}
	stopPerf := e.startPerf(name, m)
	t0 := e.proxy.snapshot()
	m.cpuSoFar() // the mount's CPU figure starts here: not the unlock
	start := time.Now()
	ferr := f(m.Dir)
	workCPU, _ := m.cpuSoFar()
	stopPerf()
	uerr := m.Unmount()
	p := phase{Name: name, Dur: time.Since(start), T: e.proxy.snapshot().sub(t0), PeakRSS: m.PeakRSS,
		CPU: m.CPU, WorkCPU: workCPU}
	stopProfile()
	r.addPhase(p)
	if ferr != nil {
		return p, fmt.Errorf("%s: %w", name, ferr)
	}
	if uerr != nil {
		return p, fmt.Errorf("%s: unmount: %w", name, uerr)
	}
	return p, nil
}

func (e *env) startProfile(name string) (stop func(), err error) {
	if e.cfg.ProfileDir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(e.cfg.ProfileDir, 0o755); err != nil {
		return nil, err
	}
	base := strings.ReplaceAll(name, " ", "-")
	f, err := os.Create(filepath.Join(e.cfg.ProfileDir, "cpu-"+base+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if h, err := os.Create(filepath.Join(e.cfg.ProfileDir, "heap-"+base+".pprof")); err == nil {
			_ = pprof.Lookup("heap").WriteTo(h, 0)
			h.Close()
		}
	}, nil
}

// startPerf starts "perf record -g" on the mount process of a phase when
// --perf is given; stop ends it and waits for the file.
func (e *env) startPerf(name string, m *mounted) (stop func()) {
	if e.cfg.PerfDir == "" || m.rss == nil {
		return func() {}
	}
	if err := os.MkdirAll(e.cfg.PerfDir, 0o755); err != nil {
		log.Printf("bench: --perf: %v", err)
		return func() {}
	}
	out := filepath.Join(e.cfg.PerfDir, "perf-"+strings.ReplaceAll(name, " ", "-")+".data")
	cmd := exec.Command("perf", "record", "-q", "-g", "-o", out, "-p", strconv.Itoa(m.rss.pid))
	if err := cmd.Start(); err != nil {
		log.Printf("bench: --perf: %v", err)
		return func() {}
	}
	time.Sleep(200 * time.Millisecond) // perf attaches to the threads: no event to wait on
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}
