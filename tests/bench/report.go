package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Row names the test looks for; every run prints all of them (a workload
// that was not selected shows "skipped").
const (
	rowRawPut        = "raw parallel PUT"
	rowRawGet        = "raw parallel ranged GET"
	rowRawSmallPut   = "raw PUT of small objects"
	rowRawSmallGet   = "raw GET of small objects"
	rowRawSyncPut    = "raw PUT, sync-tool objects"
	rowSeqWrite      = "sequential write (to umount)"
	rowSeqRead       = "cold sequential read"
	rowSmallWrite    = "small files write (to umount)"
	rowSmallRead     = "small files cold read"
	rowRename        = "folder rename"
	rowRenameSmall   = "folder rename, 10 files"
	rowOverwrite     = "random 4 KiB overwrites: uploaded"
	rowSQLite        = "SQLite inserts (to umount)"
	rowSQLiteCommits = "SQLite durable commits"
	rowSQLiteCheck   = "SQLite integrity after remount"
	rowSyncTool      = "sync-tool pattern (fsync, rename)"
	rowRSS           = "peak RSS of the mount, writing"
	rowOOORandom     = "random-order pwrites: uploaded"
	rowOOOSyncthing  = "Syncthing-order pwrites: uploaded"
	rowWeekHistory   = "week: bucket, all 5 snapshots kept"
	rowWeekPruned    = "week: bucket after prune --keep-last 1"
	rowWeekRestore   = "week: restore on a fresh device"
	rowDedupCopy     = "dedup: copy of the big file uploads"
	rowDedupTree     = "dedup: cp -r of a photo folder uploads"
	rowDedupRepeat   = "dedup: repeated 64 MiB file, write+fsync"
	rowDedupHash     = "dedup: keyed hash CPU per MiB"
	rowCDCWeek       = "cdc: week, FastCDC 1 MiB stores"
	rowCDCSQLite     = "cdc: edited SQLite, FastCDC 1 MiB uploads"
)

// weekDayRows are the uploads of each day of the week workload (week.go).
var weekDayRows = func() []string {
	var rows []string
	for d := range weekDays {
		rows = append(rows, fmt.Sprintf("week day %d: uploaded", d+1))
	}
	return rows
}()

var rowOrder = []string{
	rowRawPut, rowRawGet, rowRawSmallPut, rowRawSmallGet, rowRawSyncPut,
	rowSeqWrite, rowSeqRead, rowSmallWrite, rowSmallRead,
	rowRename, rowRenameSmall, rowOverwrite,
	rowSQLite, rowSQLiteCommits, rowSQLiteCheck, rowSyncTool, rowRSS,
	rowOOORandom, rowOOOSyncthing,
	weekDayRows[0], weekDayRows[1], weekDayRows[2], weekDayRows[3], weekDayRows[4],
	rowWeekHistory, rowWeekPruned, rowWeekRestore,
	rowDedupCopy, rowDedupTree, rowDedupRepeat, rowDedupHash,
	rowCDCWeek, rowCDCSQLite,
}

// row is one line of the result table.
type row struct {
	Value  float64
	Unit   string
	Detail string  // what exactly was measured
	Ratio  float64 // NaN: no ratio
	// Of names the raw ceiling row the ratio is taken against; the ratio
	// and Met are then computed by finish, with the ceiling measured
	// before and after the sealfs workloads. AtLeast is the target ratio.
	Of      string
	AtLeast float64
	Target  string // "" = none
	Met     *bool  // nil = no target or not decidable
	Text    string // a value that is not a number ("ok", "unavailable: ...")
}

// phase is one measured stretch of a workload and its bucket traffic.
type phase struct {
	Name    string
	Dur     time.Duration
	T       traffic
	PeakRSS int64
	CPU     time.Duration // of the mount process, to its exit (0: unknown)
	WorkCPU time.Duration // of the mount process while the workload ran
}

type report struct {
	cfg      config
	rows     map[string]row
	phases   []phase
	ceil     map[string]float64   // raw ceilings by row name, in the row's unit
	ceilRuns map[string][]float64 // each measurement of a ceiling
	total    time.Duration
	load0    string
	notes    []string // printed under the table

	rwReadCPU time.Duration // mount CPU of the read-write cold read (coldread.go)
}

func newReport(cfg config) *report {
	return &report{cfg: cfg, rows: map[string]row{}, ceil: map[string]float64{}, ceilRuns: map[string][]float64{}, load0: loadAvg()}
}

func (r *report) set(name string, rw row) {
	if rw.Ratio == 0 {
		rw.Ratio = math.NaN()
	}
	r.rows[name] = rw
}

// addCeiling records one measurement of a raw ceiling.
func (r *report) addCeiling(name string, v float64, unit, detail string) {
	r.ceilRuns[name] = append(r.ceilRuns[name], v)
	r.set(name, row{Value: v, Unit: unit, Detail: detail})
}

// finish sets each ceiling to the mean of its runs (the machine is shared:
// measuring before and after the sealfs workloads evens out load changes)
// and computes the ratios and targets against it.
func (r *report) finish() {
	for name, runs := range r.ceilRuns {
		var sum float64
		parts := make([]string, len(runs))
		for i, v := range runs {
			sum += v
			parts[i] = num(v)
		}
		r.ceil[name] = sum / float64(len(runs))
		rw := r.rows[name]
		rw.Value = r.ceil[name]
		if len(runs) > 1 {
			rw.Detail += fmt.Sprintf("; mean of runs before and after sealfs: %s", strings.Join(parts, ", "))
		}
		r.rows[name] = rw
	}
	for name, rw := range r.rows {
		if rw.Of == "" {
			continue
		}
		rw.Ratio = math.NaN()
		if c := r.ceil[rw.Of]; c > 0 {
			rw.Ratio = rw.Value / c
			if rw.AtLeast > 0 {
				rw.Met = atLeast(rw.Ratio, rw.AtLeast)
			}
		}
		r.rows[name] = rw
	}
}

func atLeast(v, min float64) *bool {
	if math.IsNaN(v) {
		return nil
	}
	b := v >= min
	return &b
}

func atMost(v, max float64) *bool {
	if math.IsNaN(v) {
		return nil
	}
	b := v <= max
	return &b
}

func (r *report) addPhase(p phase) { r.phases = append(r.phases, p) }

// note adds a paragraph printed under the result table.
func (r *report) note(s string) { r.notes = append(r.notes, s) }

func (r *report) print(w io.Writer) {
	mode := "the sealfs binary (init, mount --daemon, umount)"
	if r.cfg.ProfileDir != "" {
		mode = "fs.Mount in this process (profiling into " + r.cfg.ProfileDir + ")"
	}
	fmt.Fprintf(w, "sealfs benchmark: %s, %d CPUs (%s), load average %s at start, %s at end; total %s\n",
		runtime.Version(), runtime.NumCPU(), cpuModel(), r.load0, loadAvg(), r.total.Round(time.Second))
	fmt.Fprintf(w, "mounts: %s; big file %d MiB, %d files of %d KiB in %d folders\n",
		mode, r.cfg.SizeMiB, r.cfg.Files, r.cfg.FileKiB, r.cfg.Dirs)
	if r.cfg.Pin {
		fmt.Fprintf(w, "pinned: MinIO and the counting proxy on CPU %d; this program, sealfs, cp, sha256sum on CPU %d\n", serverCPU, clientCPU)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tratio\ttarget\tmet\tmeasured")
	for _, name := range rowOrder {
		rw, ok := r.rows[name]
		if !ok {
			fmt.Fprintf(tw, "%s\tskipped\t-\t-\t-\t\n", name)
			continue
		}
		val := rw.Text
		if val == "" {
			val = fmt.Sprintf("%s %s", num(rw.Value), rw.Unit)
		}
		ratio := "-"
		if !math.IsNaN(rw.Ratio) {
			ratio = fmt.Sprintf("%.2f", rw.Ratio)
		}
		target, met := "-", "-"
		if rw.Target != "" {
			target = rw.Target
		}
		if rw.Met != nil {
			met = map[bool]string{true: "met", false: "NOT MET"}[*rw.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, val, ratio, target, met, rw.Detail)
	}
	tw.Flush()
	for _, n := range r.notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\ttime\tPUT\tGET\tother\tup MiB\tdown MiB\tcommits\tpeak RSS MiB\tmount CPU s\t")
	for _, p := range r.phases {
		rss := "-"
		if p.PeakRSS > 0 {
			rss = fmt.Sprintf("%.0f", mib(p.PeakRSS))
		}
		cpu := "-"
		if p.CPU > 0 {
			cpu = fmt.Sprintf("%.2f", p.CPU.Seconds())
		}
		fmt.Fprintf(tw, "%s\t%.2fs\t%d\t%d\t%d\t%.1f\t%.1f\t%d\t%s\t%s\t\n", p.Name, p.Dur.Seconds(),
			p.T.Puts, p.T.Gets, p.T.Other, mib(p.T.Up), mib(p.T.Down), p.T.HeadPuts, rss, cpu)
	}
	tw.Flush()
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
