//go:build fuzzlong

package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFuzzTargets fuzzes every fuzz target of the module for a while
// (SEALFS_FUZZTIME, default 3s each; the go tool builds each package once
// with coverage). It is not part of CI (which runs every target's seeds,
// TestFuzzSeeds): run it with tests/fuzz.sh. A crash or a failure fails
// the test with the tool's output, and the go tool keeps the failing input
// under the package's testdata/fuzz/ so that plain "go test" reproduces it
// afterwards.
func TestFuzzTargets(t *testing.T) {
	fuzzTime := os.Getenv("SEALFS_FUZZTIME")
	if fuzzTime == "" {
		fuzzTime = "3s"
	}
	root, _ := moduleRoot(t)
	targets := findFuzzTargets(t, root)
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
