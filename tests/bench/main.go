package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	Endpoint   string // S3 endpoint to use instead of a private MinIO
	Binary     string // prebuilt sealfs binary ("" = go build ./cmd/sealfs)
	ProfileDir string // mount in-process and write CPU profiles here
	Only       string // comma-separated workload names

	SizeMiB                         int // the big file and the raw transfer
	Files                           int // small files
	FileKiB                         int
	Dirs                            int
	RenameFiles                     int
	Overwrites                      int
	SQLRows                         int
	SQLTxn                          int
	Parallel                        int // raw ceiling parallelism for chunk-sized objects
	SmallPar                        int // raw ceiling parallelism for small objects
	OOOSizeMiB                      int // the out-of-order written files (outoforder.go)
	OOOMemoryMiB                    int // their mount's --memory-budget (0 = default)
	SyncFiles, SyncKiB, SyncWriters int // the sync-tool pattern (synctool.go)
	// The restored backup (restore.go): database MiB, media and tiny
	// files, and restore's --parallel (0: its default).
	RestoreDBMiB, RestoreMedia, RestoreTiny, RestorePar int
	WeekDBMiB, WeekFiles                                int    // the week workload: WhatsApp database MiB, new files a day (week.go)
	DedupMiB, DedupPhotos, DedupPhotoKiB                int    // the dedup workload: copied file, photos copied with cp -r, their typical size (dedup.go)
	TreeFiles, TreeDirs, TreeBigDir                     int    // the tree workload: files, their folders, entries of the one big folder (tree.go)
	SealfsEnv                                           string // extra KEY=VALUE,... for the sealfs processes
	Quick                                               bool
	Verbose                                             bool
	Pin                                                 bool   // server side on one CPU, client side on the other (pin.go)
	PerfDir                                             string // perf record the mount process of each phase into this directory
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// workloads in the order they run.
var workloads = []string{"raw", "seq", "small", "rename", "sqlite", "synctool", "outoforder", "restore", "week", "dedup", "cdc", "tree"}

func main() {
	if target := os.Getenv(proxyEnv); target != "" { // --pin's proxy process
		if err := serveProxy(target); err != nil {
			fmt.Fprintln(os.Stderr, "bench: proxy:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return // --help: the usage is printed, nothing failed
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		os.Exit(1)
	}
}

// run parses args, runs the selected workloads and prints the tables to w.
func run(ctx context.Context, args []string, w io.Writer) error {
	r, err := measureAll(ctx, args)
	if err != nil {
		return err
	}
	r.print(w)
	return nil
}

// measureAll runs the workloads args select and returns their report.
func measureAll(ctx context.Context, args []string) (*report, error) {
	cfg, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	e, err := setup(cfg)
	if err != nil {
		return nil, err
	}
	defer e.close()
	r := newReport(cfg)
	start := time.Now()
	for _, name := range workloads {
		if !cfg.selected(name) {
			continue
		}
		if cfg.Verbose {
			fmt.Fprintf(os.Stderr, "bench: %s ...\n", name)
		}
		if err := runWorkload(ctx, e, r, name); err != nil {
			return nil, fmt.Errorf("workload %s: %w", name, err)
		}
	}
	if cfg.selected("raw") && len(cfg.workloadsRun()) > 1 {
		if err := runWorkload(ctx, e, r, "raw"); err != nil {
			return nil, fmt.Errorf("workload raw (again): %w", err)
		}
	}
	r.finish()
	r.total = time.Since(start)
	return r, nil
}

func runWorkload(ctx context.Context, e *env, r *report, name string) error {
	switch name {
	case "raw":
		return rawCeilings(ctx, e, r)
	case "seq":
		return seqWorkload(ctx, e, r)
	case "small":
		return smallWorkload(ctx, e, r)
	case "rename":
		return renameWorkload(ctx, e, r)
	case "sqlite":
		return sqliteWorkload(ctx, e, r)
	case "synctool":
		return syncToolWorkload(ctx, e, r)
	case "outoforder":
		return outOfOrderWorkload(ctx, e, r)
	case "restore":
		return restoreWorkload(ctx, e, r)
	case "week":
		return weekWorkload(ctx, e, r)
	case "dedup":
		return dedupWorkload(ctx, e, r)
	case "cdc":
		return cdcWorkload(ctx, e, r)
	case "tree":
		return treeWorkload(ctx, e, r)
	}
	return fmt.Errorf("unknown workload %q", name)
}

func parseFlags(args []string) (config, error) {
	var c config
	f := flag.NewFlagSet("bench", flag.ContinueOnError)
	f.Usage = func() {
		fmt.Fprintf(f.Output(), "usage: go run ./tests/bench [flags]\n\n"+
			"Measures sealfs next to the raw S3 ceiling of the same machine, in the same run,\n"+
			"on a private MinIO on loopback (or --endpoint), and prints each figure, its ratio\n"+
			"and its target. Needs root and /dev/fuse. --quick takes under a minute.\n\nflags:\n")
		f.PrintDefaults()
	}
	f.StringVar(&c.Endpoint, "endpoint", "", "S3 endpoint URL to use instead of a private MinIO (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
	f.StringVar(&c.Binary, "sealfs", "", "sealfs binary to drive (default: go build ./cmd/sealfs)")
	f.StringVar(&c.ProfileDir, "profile", "", "mount in this process with fs.Mount and write CPU profiles of each sealfs phase into `DIR`")
	f.StringVar(&c.Only, "only", "", "comma-separated workloads to run (of "+strings.Join(workloads, ",")+"; raw is needed for ratios)")
	f.IntVar(&c.SizeMiB, "size", 512, "MiB of the big file and of the raw transfer")
	f.IntVar(&c.Files, "files", 2000, "number of small files")
	f.IntVar(&c.FileKiB, "file-kib", 16, "KiB per small file")
	f.IntVar(&c.Dirs, "dirs", 20, "folders the small files are spread over")
	f.IntVar(&c.RenameFiles, "rename-files", 1000, "files in the renamed folder")
	f.IntVar(&c.Overwrites, "overwrites", 64, "random 4 KiB overwrites in the big file")
	f.IntVar(&c.SQLRows, "sqlite-rows", 20000, "SQLite rows inserted")
	f.IntVar(&c.SQLTxn, "sqlite-txn", 100, "SQLite rows per transaction")
	f.IntVar(&c.OOOSizeMiB, "ooo-size", 64, "MiB of each out-of-order written file (4096: the 4 GiB case)")
	f.IntVar(&c.SyncFiles, "sync-files", 2000, "files of the sync-tool pattern (temporary name, fsync, rename)")
	f.IntVar(&c.SyncKiB, "sync-kib", 64, "KiB per file of the sync-tool pattern")
	f.IntVar(&c.SyncWriters, "sync-writers", 4, "writers at once in the sync-tool pattern (and raw PUT clients of its ceiling)")
	f.IntVar(&c.OOOMemoryMiB, "ooo-memory", 0, "--memory-budget in MiB of the out-of-order writes' mount (0 = the default; 256: the 4 GiB case)")
	f.IntVar(&c.RestoreDBMiB, "restore-db", 512, "MiB of the restored backup's database")
	f.IntVar(&c.RestoreMedia, "restore-media", 2000, "media files (50 KiB-5 MiB) in the restored backup")
	f.IntVar(&c.RestoreTiny, "restore-tiny", 300, "tiny files (up to 4 KiB) in the restored backup")
	f.IntVar(&c.RestorePar, "restore-parallel", 0, "sealfs restore --parallel (0: its default)")
	f.IntVar(&c.WeekDBMiB, "week-db", 64, "MiB of the week workload's WhatsApp database (Signal's backup is twice that)")
	f.IntVar(&c.WeekFiles, "week-files", 20, "new WhatsApp media files and Telegram photos a day in the week workload")
	f.IntVar(&c.DedupMiB, "dedup-size", 256, "MiB of the file the dedup workload copies inside the mount")
	f.IntVar(&c.DedupPhotos, "dedup-photos", 500, "random photos in the folder the dedup workload copies with cp -r")
	f.IntVar(&c.DedupPhotoKiB, "dedup-photo-kib", 2048, "typical photo size in KiB (log-uniform from half to twice that)")
	f.IntVar(&c.TreeFiles, "tree-files", 1000000, "files of the tree workload's vault, spread over --tree-dirs folders (issue 15's size)")
	f.IntVar(&c.TreeDirs, "tree-dirs", 1000, "folders of the tree workload's files")
	f.IntVar(&c.TreeBigDir, "tree-big-dir", 100000, "entries of the tree workload's one big folder (its own vault)")
	f.IntVar(&c.Parallel, "parallel", 8, "parallel requests of the raw transfer (sealfs uploads 8 chunks at a time)")
	f.IntVar(&c.SmallPar, "small-parallel", 16, "parallel requests of the raw small-object PUT/GET")
	f.StringVar(&c.SealfsEnv, "sealfs-env", "", "extra environment for the sealfs processes, `KEY=VALUE,...` (e.g. GOMEMLIMIT=100MiB)")
	f.BoolVar(&c.Quick, "quick", false, "smaller sizes (about a minute): --size 256 --files 1000 --sqlite-rows 5000 --restore-db 64 --restore-media 200 --restore-tiny 50 --week-db 16 --sync-files 500 --tree-files 20000 --tree-big-dir 20000, unless given")
	f.BoolVar(&c.Verbose, "v", false, "report progress on stderr")
	f.StringVar(&c.PerfDir, "perf", "", "record each sealfs phase's mount process with perf record -g into `DIR` (perf-<phase>.data; for perf report)")
	f.BoolVar(&c.Pin, "pin", false, "stand in for a remote endpoint: MinIO and the counting proxy on CPU 0, this program, the mounts and the readers and writers on CPU 1; reports the mount's CPU per MiB beside the floor")
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{err}
	}
	if f.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected arguments %q (see --help)", f.Args())}
	}
	if c.Quick {
		set := map[string]bool{}
		f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		quick := map[string]*int{"size": &c.SizeMiB, "files": &c.Files, "sqlite-rows": &c.SQLRows,
			"restore-db": &c.RestoreDBMiB, "restore-media": &c.RestoreMedia, "restore-tiny": &c.RestoreTiny, "week-db": &c.WeekDBMiB, "sync-files": &c.SyncFiles,
			"tree-files": &c.TreeFiles, "tree-big-dir": &c.TreeBigDir}
		values := map[string]int{"size": 256, "files": 1000, "sqlite-rows": 5000,
			"restore-db": 64, "restore-media": 200, "restore-tiny": 50, "week-db": 16, "sync-files": 500, "tree-files": 20000, "tree-big-dir": 20000}
		for name, p := range quick {
			if !set[name] {
				*p = values[name]
			}
		}
	}
	if err := c.validate(); err != nil {
		return c, usageError{err}
	}
	if c.Pin {
		if c.ProfileDir != "" {
			return c, usageError{errors.New("--pin measures the sealfs binary's process: leave out --profile")}
		}
		if err := checkPinnable(); err != nil {
			return c, usageError{err}
		}
	}
	return c, nil
}

func (c config) validate() error {
	for _, n := range []int{c.SizeMiB, c.Files, c.FileKiB, c.Dirs, c.RenameFiles, c.Overwrites, c.SQLRows, c.SQLTxn, c.OOOSizeMiB, c.SyncFiles, c.SyncKiB, c.SyncWriters, c.Parallel, c.SmallPar, c.RestoreDBMiB, c.RestoreMedia, c.WeekDBMiB, c.WeekFiles, c.DedupMiB, c.DedupPhotos, c.DedupPhotoKiB, c.TreeFiles, c.TreeDirs, c.TreeBigDir} {
		if n <= 0 {
			return errors.New("sizes and counts must be positive numbers")
		}
	}
	if c.RestoreTiny < 0 || c.RestorePar < 0 || c.RestorePar > 64 {
		return errors.New("--restore-tiny must be 0 or more, --restore-parallel 0 to 64")
	}
	for _, name := range strings.Split(c.Only, ",") {
		if name != "" && !contains(workloads, name) {
			return fmt.Errorf("--only: unknown workload %q (have %s)", name, strings.Join(workloads, ","))
		}
	}
	return nil
}

// workloadsRun lists the selected workloads.
func (c config) workloadsRun() []string {
	var out []string
	for _, w := range workloads {
		if c.selected(w) {
			out = append(out, w)
		}
	}
	return out
}

func (c config) selected(name string) bool {
	return c.Only == "" || contains(strings.Split(c.Only, ","), name)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
