package tests

import (
	"context"
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

// findFuzzTargets scans every _test.go file of the module for Fuzz
// functions, so a new parser's fuzz target runs here without a list to keep.
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
	return out
}

// TestFuzzTargets runs every fuzz target of the module for a short while
// (SEALFS_FUZZTIME, default 3s each; the go tool builds each package once
// with coverage). A crash or a failure fails the test with the tool's output,
// and the go tool keeps the failing input under the package's
// testdata/fuzz/ so that plain "go test" reproduces it afterwards.
func TestFuzzTargets(t *testing.T) {
	fuzzTime := os.Getenv("SEALFS_FUZZTIME")
	if fuzzTime == "" {
		fuzzTime = "3s"
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	targets := findFuzzTargets(t, root)
	var names []string
	for _, ft := range targets {
		names = append(names, ft.name)
	}
	// The scan must find the parsers the format depends on; an empty or
	// shrunken list would make this test pass without fuzzing anything.
	for _, must := range []string{"FuzzParseVault", "FuzzOpenObject", "FuzzDecodeHead", "FuzzDecodeBatch"} {
		if !slices.Contains(names, must) {
			t.Fatalf("the scan found %v but not %s", names, must)
		}
	}
	start := time.Now()
	for _, ft := range targets {
		rel, _ := filepath.Rel(root, ft.dir)
		t.Run(rel+"/"+ft.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+ft.name+"$",
				"-fuzztime", fuzzTime, "./"+filepath.ToSlash(rel))
			cmd.Dir = root
			corpus := filepath.Join(ft.dir, "testdata", "fuzz", ft.name)
			before := listDir(corpus)
			out, err := cmd.CombinedOutput()
			var found []string
			for _, f := range listDir(corpus) {
				if !slices.Contains(before, f) {
					found = append(found, filepath.Join(corpus, f))
				}
			}
			switch {
			case len(found) > 0:
				t.Fatalf("go test -fuzz %s ./%s found failing inputs %v:\n%s", ft.name, rel, found, out)
			case err != nil && isDeadlineFlake(string(out)):
				// golang/go#75804 (fixed in Go 1.27): at the end of
				// -fuzztime the coordinator can report its own deadline
				// as a failure. A real failure writes an input (above).
				t.Logf("go test -fuzz %s: the Go 1.26 fuzztime deadline race, no failing input:\n%s", ft.name, out)
			case err != nil:
				t.Fatalf("go test -fuzz %s ./%s: %v\n%s", ft.name, rel, err, out)
			case !strings.Contains(string(out), "ok "):
				t.Fatalf("go test -fuzz %s: no success line in the output:\n%s", ft.name, out)
			}
		})
	}
	t.Logf("%d fuzz targets in %v", len(targets), time.Since(start).Round(time.Second))
}

// listDir names the files in dir (none if it does not exist).
func listDir(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// isDeadlineFlake reports whether out is the failure of golang/go#75804
// and nothing else: the bare deadline error, no failing input, no panic.
func isDeadlineFlake(out string) bool {
	return strings.Contains(out, "\n    context deadline exceeded\n") &&
		!strings.Contains(out, "Failing input") && !strings.Contains(out, "panic") &&
		!strings.Contains(out, "Error")
}
