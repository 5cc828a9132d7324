package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/s3test"
)

// TestMain lets the test binary serve as --pin's proxy process, as the
// benchmark program does (it starts itself again with proxyEnv set).
func TestMain(m *testing.M) {
	if target := os.Getenv(proxyEnv); target != "" {
		if err := serveProxy(target); err != nil {
			fmt.Fprintln(os.Stderr, "bench: proxy:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// tiny sizes: every workload runs, in seconds.
var tiny = []string{"--size", "8", "--files", "40", "--dirs", "4", "--rename-files", "50",
	"--overwrites", "4", "--ooo-size", "8", "--sqlite-rows", "200", "--sqlite-txn", "50", "--parallel", "4", "--small-parallel", "4",
	"--restore-db", "8", "--restore-media", "20", "--restore-tiny", "10",
	"--week-db", "4", "--week-files", "3", "--sync-files", "40", "--sync-kib", "16",
	"--dedup-size", "8", "--dedup-photos", "10", "--dedup-photo-kib", "64",
	"--tree-files", "2000", "--tree-dirs", "10", "--tree-big-dir", "1000"}

// TestBench runs the whole program, with its own MinIO and the real
// binary, at tiny sizes, and checks that the table is complete and its
// figures sane (not fast: timings on a shared machine are not asserted).
// The workloads themselves check what they read back after remounts.
func TestBench(t *testing.T) {
	s3test.RequireFUSE(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, err := measureAll(ctx, tiny)
	if errors.Is(err, errNoMinIO) {
		s3test.Require(t, "MinIO S3 server", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.print(&out)
	t.Log("\n" + out.String())

	for _, name := range rowOrder {
		rw, ok := r.rows[name]
		if !ok {
			t.Errorf("row %q missing", name)
			continue
		}
		if !strings.Contains(out.String(), name) {
			t.Errorf("printed table lacks %q", name)
		}
		if rw.Text == "" && (rw.Value <= 0 || math.IsInf(rw.Value, 0) || math.IsNaN(rw.Value)) {
			t.Errorf("%s = %v %s: want a positive number", name, rw.Value, rw.Unit)
		}
	}
	for _, name := range []string{rowSeqWrite, rowSeqRead, rowSmallWrite, rowSmallRead, rowOverwrite, rowRestore, rowRestoreCp} {
		if rw := r.rows[name]; math.IsNaN(rw.Ratio) || rw.Ratio <= 0 {
			t.Errorf("%s: ratio %v, want one against the raw ceiling", name, rw.Ratio)
		}
	}
	for name, rw := range r.rows {
		if (rw.Met != nil) != (rw.Target != "") {
			t.Errorf("%s: target %q but met %v: a verdict needs a target and vice versa", name, rw.Target, rw.Met)
		}
	}
	checkPhases(t, r)
	checkSQLite(t, r)
	checkWeek(t, r)
}

// checkWeek checks the week workload's restore and that its first day
// uploaded at least the content that was new (4 MiB database, 8 MiB
// Signal backup: 12 MiB of distinct chunks).
func checkWeek(t *testing.T, r *report) {
	t.Helper()
	if rw := r.rows[rowWeekRestore]; rw.Text != "ok" {
		t.Errorf("week: restore: %s: %s", rw.Text, rw.Detail)
	}
	for _, p := range r.phases {
		if p.Name == "week day 1" && p.T.DataUp < 12<<20 {
			t.Errorf("week day 1: %d data bytes uploaded, want at least the 12 MiB of new chunks", p.T.DataUp)
		}
	}
}

// checkPhases checks the traffic the proxy counted: sealfs must have moved
// at least the plaintext through the bucket, in both directions.
func checkPhases(t *testing.T, r *report) {
	t.Helper()
	byName := map[string]phase{}
	for _, p := range r.phases {
		byName[p.Name] = p
	}
	size := int64(8 << 20)
	for name, want := range map[string]func(p phase) bool{
		"raw PUT":          func(p phase) bool { return p.T.Up >= size && p.T.Puts == 2 },
		"raw GET":          func(p phase) bool { return p.T.Down >= size && p.T.Gets == 2 },
		"seq write":        func(p phase) bool { return p.T.Up >= size && p.T.HeadPuts >= 1 && p.PeakRSS > 0 },
		"cold seq read":    func(p phase) bool { return p.T.Down >= size && p.T.HeadPuts == 0 },
		"small write":      func(p phase) bool { return p.T.Up >= 40*16<<10 },
		"random overwrite": func(p phase) bool { return p.T.Up > 0 && p.T.Up < 2*size },
		"rename":           func(p phase) bool { return p.T.Up < 1<<20 },
		// Each order writes its own content: none may be stored away as
		// a copy of another (format 3) and upload nothing.
		"ooo write random":    func(p phase) bool { return p.T.Up >= size },
		"ooo write syncthing": func(p phase) bool { return p.T.Up >= size },
		"sync-tool write":     func(p phase) bool { return p.T.Up >= 40*16<<10 && p.T.HeadPuts >= 1 },
	} {
		p, ok := byName[name]
		if !ok {
			t.Errorf("phase %q missing", name)
			continue
		}
		if !want(p) {
			t.Errorf("phase %q: implausible traffic %+v, peak RSS %d", name, p.T, p.PeakRSS)
		}
	}
}

func checkSQLite(t *testing.T, r *report) {
	t.Helper()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		if rw := r.rows[rowSQLite]; !strings.HasPrefix(rw.Text, "unavailable") {
			t.Errorf("no sqlite3, yet the SQLite row says %q", rw.Text)
		}
		return
	}
	if rw := r.rows[rowSQLiteCheck]; rw.Text != "ok" {
		t.Errorf("SQLite after remount: %s", rw.Text)
	}
	if rw := r.rows[rowSQLiteCommits]; rw.Value < 4 { // 200 rows in 4 transactions
		t.Errorf("SQLite: %v commits for 4 fsynced transactions", rw.Value)
	}
}

// TestFlags checks --quick and the refusal of nonsense.
func TestFlags(t *testing.T) {
	c, err := parseFlags([]string{"--quick", "--files", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if c.SizeMiB != 256 || c.Files != 7 || c.SQLRows != 5000 || c.WeekDBMiB != 16 {
		t.Errorf("--quick --files 7: got size %d, files %d, rows %d, week db %d MiB", c.SizeMiB, c.Files, c.SQLRows, c.WeekDBMiB)
	}
	for _, bad := range [][]string{{"--size", "0"}, {"--only", "nope"}, {"extra"}, {"--no-such-flag"}} {
		if _, err := parseFlags(bad); !errors.As(err, new(usageError)) {
			t.Errorf("parseFlags(%q): %v, want a usage error (exit status 2)", bad, err)
		}
	}
	if _, err := parseFlags([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v, want flag.ErrHelp (usage printed, exit status 0)", err)
	}
}

// TestPattern checks the content checker catches a changed byte anywhere.
func TestPattern(t *testing.T) {
	p := newPattern()
	buf := make([]byte, 3*patternBlock+100)
	for _, off := range []int64{0, 5, patternBlock - 3, 7 * patternBlock} {
		p.fill(buf, off)
		if !p.check(buf, off) {
			t.Fatalf("off %d: filled content does not check", off)
		}
		if p.check(buf, off+1) {
			t.Fatalf("off %d: content checks at the wrong offset", off)
		}
		for _, i := range []int{0, 7, 8, patternBlock, len(buf) - 1} {
			buf[i] ^= 1
			if p.check(buf, off) {
				t.Errorf("off %d: flipped byte %d not caught", off, i)
			}
			buf[i] ^= 1
		}
	}
}

// TestBenchProfile runs the in-process mode (fs.Mount in this process) at
// tiny sizes and checks it leaves a CPU profile per sealfs phase.
func TestBenchProfile(t *testing.T) {
	s3test.RequireFUSE(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	r, err := measureAll(ctx, append(tiny, "--only", "seq", "--profile", dir))
	if errors.Is(err, errNoMinIO) {
		s3test.Require(t, "MinIO S3 server", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rw := r.rows[rowSeqRead]; rw.Value <= 0 {
		t.Errorf("in-process cold read: %v %s", rw.Value, rw.Unit)
	}
	for _, phase := range []string{"seq-write", "cold-seq-read", "random-overwrite"} {
		st, err := os.Stat(filepath.Join(dir, "cpu-"+phase+".pprof"))
		if err != nil || st.Size() == 0 {
			t.Errorf("no CPU profile for %s: %v", phase, err)
		}
	}
}

// TestBenchPin runs the --pin mode at tiny sizes: the proxy in its own
// process still counts the traffic, and the mount's CPU is measured
// against a floor.
func TestBenchPin(t *testing.T) {
	s3test.RequireFUSE(t)
	if err := checkPinnable(); err != nil {
		t.Skip(err) // a machine with one CPU cannot stand in for a remote endpoint
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, err := measureAll(ctx, append(tiny, "--only", "raw,seq", "--pin", "--size", "32")) // CPU in 10 ms ticks: enough MiB to count
	if errors.Is(err, errNoMinIO) {
		s3test.Require(t, "MinIO S3 server", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.print(&out)
	t.Log("\n" + out.String())
	for _, name := range []string{rowSeqRead, rowSeqReadRW, rowSeqReadCp, rowSeqReadSum, rowReadCPU, rowWriteCPU} {
		if rw := r.rows[name]; rw.Value <= 0 || math.IsNaN(rw.Ratio) {
			t.Errorf("%s: %v %s, ratio %v: want a measured value and its ratio", name, rw.Value, rw.Unit, rw.Ratio)
		}
	}
	byName := map[string]phase{}
	for _, p := range r.phases {
		byName[p.Name] = p
	}
	if p := byName["raw GET"]; p.T.Gets != 8 || p.T.Down < 32<<20 {
		t.Errorf("raw GET through the proxy process: counted %+v", p.T)
	}
	if p := byName["cold read rw 128k"]; p.T.Down < 32<<20 || p.CPU <= 0 {
		t.Errorf("cold read through the read-write mount: traffic %+v, mount CPU %v", p.T, p.CPU)
	}
}
