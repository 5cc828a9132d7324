package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzTarget is one Fuzz function and the package directory that has it.
type fuzzTarget struct{ dir, name string }

var fuzzFuncRE = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(\w+ \*testing\.F\)`)

// mustFuzz are the parsers the format depends on: a scan that misses one
// of them is broken (an empty or shrunken list would check nothing).
var mustFuzz = []string{"FuzzParseVault", "FuzzOpenObject", "FuzzDecodeHead", "FuzzDecodeBatch"}

// findFuzzTargets scans every _test.go file of the module for Fuzz
// functions, so a new parser's fuzz target is checked here without a list
// to keep, and fails unless it finds every one of mustFuzz.
func findFuzzTargets(t *testing.T, root string) []fuzzTarget {
	t.Helper()
	var out []fuzzTarget
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && p != root && (strings.HasPrefix(e.Name(), ".") || e.Name() == "testdata" || e.Name() == "vendor") {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range fuzzFuncRE.FindAllStringSubmatch(string(src), -1) {
			out = append(out, fuzzTarget{dir: filepath.Dir(p), name: m[1]})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ft := range out {
		names = append(names, ft.name)
	}
	for _, must := range mustFuzz {
		if !slices.Contains(names, must) {
			t.Fatalf("the scan found %v but not %s", names, must)
		}
	}
	return out
}

// moduleRoot is the module's directory and its import path.
func moduleRoot(t *testing.T) (dir, path string) {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(mod), "\n")
	path, ok := strings.CutPrefix(strings.TrimSpace(first), "module ")
	if !ok {
		t.Fatalf("go.mod does not start with a module line: %q", first)
	}
	return dir, strings.TrimSpace(path)
}

// TestFuzzSeeds: every fuzz target of the module runs at least one seed
// input (f.Add or testdata/fuzz) in plain "go test", and passes. CI runs
// the seeds, not the fuzzer: without a seed a target would check nothing
// there. Fuzzing proper (a coverage-instrumented build per package) is
// tests/fuzz.sh.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	root, module := moduleRoot(t)
	targets := findFuzzTargets(t, root)
	var names, pkgs []string
	for _, ft := range targets {
		rel, err := filepath.Rel(root, ft.dir)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ft.name)
		pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
	}
	slices.Sort(names)
	slices.Sort(pkgs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append([]string{"test", "-json", "-run", "^(" + strings.Join(slices.Compact(names), "|") + ")$"}, slices.Compact(pkgs)...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, stderr.Bytes(), out)
	}
	// seeds counts, per package and target, the seed inputs that passed.
	seeds := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct{ Action, Package, Test string }
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("go test -json printed %q: %v", sc.Bytes(), err)
		}
		if target, _, sub := strings.Cut(ev.Test, "/"); sub && ev.Action == "pass" {
			seeds[ev.Package+"."+target]++
		}
	}
	for _, ft := range targets {
		rel, _ := filepath.Rel(root, ft.dir)
		key := module + "/" + filepath.ToSlash(rel) + "." + ft.name
		if seeds[key] == 0 {
			t.Errorf("%s runs no seed input in go test: add f.Add calls or files under %s",
				key, filepath.Join(rel, "testdata", "fuzz", ft.name))
		}
	}
	t.Logf("%d fuzz targets, %d seed inputs run", len(targets), sumValues(seeds))
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
