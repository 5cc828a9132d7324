package tests

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/s3test"
)

// sealfsBin is the binary built once for all tests in this package.
var sealfsBin string

// parallelDefault is how many parallel tests run at once unless
// -test.parallel says otherwise. go test's default is GOMAXPROCS (2 in
// CI), which fits tests that compute in their own process; these mostly
// wait for other processes (the sealfs mounts, MinIO, the kernel's FUSE
// round trips), so more of them at once keep two cores busy.
const parallelDefault = 4

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(max(parallelDefault, runtime.GOMAXPROCS(0))))
	}
	dir, err := os.MkdirTemp("", "sealfs-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sealfsBin = filepath.Join(dir, "sealfs")
	build := exec.Command("go", "build", "-o", sealfsBin, "github.com/sealfs/sealfs/cmd/sealfs")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building sealfs:", err)
		os.Exit(1)
	}
	code := s3test.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// strict reports whether missing prerequisites must fail (CI) rather than skip.
func strict() bool { return os.Getenv("SEALFS_STRICT") == "1" }

// requireFUSE skips (or in strict mode fails) when FUSE mounts are impossible.
func requireFUSE(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		if os.Geteuid() == 0 {
			return
		}
		if _, err = exec.LookPath("fusermount3"); err == nil {
			return
		}
	}
	if strict() {
		t.Fatalf("FUSE is required (SEALFS_STRICT=1) but unavailable: %v", err)
	}
	t.Skipf("FUSE unavailable: %v", err)
}

// device is one simulated machine: its own HOME, cache and secrets, nothing
// shared with another device but the store.
type device struct {
	t    *testing.T
	name string
	home string
	env  map[string]string
}

func newDevice(t *testing.T, name string, storeEnv map[string]string) *device {
	home := t.TempDir()
	env := map[string]string{
		"HOME":           home,
		"XDG_CACHE_HOME": filepath.Join(home, ".cache"),
		"PATH":           os.Getenv("PATH"),
	}
	for k, v := range storeEnv {
		env[k] = v
	}
	return &device{t: t, name: name, home: home, env: env}
}

func (d *device) cacheDir() string { return d.env["XDG_CACHE_HOME"] }

// result is one finished sealfs run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// run runs sealfs with args and extra environment (KEY=VALUE).
func (d *device) run(extraEnv []string, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sealfsBin, args...)
	for k, v := range d.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		d.t.Fatalf("running sealfs %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok runs sealfs and fails the test unless it exits 0.
func (d *device) ok(extraEnv []string, args ...string) result {
	d.t.Helper()
	r := d.run(extraEnv, args...)
	if r.code != 0 {
		d.t.Fatalf("%s: sealfs %s: %s", d.name, strings.Join(args, " "), r)
	}
	return r
}

// mount mounts store at a fresh mountpoint in the background and registers
// a cleanup that unmounts it if the test did not.
func (d *device) mount(extraEnv []string, store string, flags ...string) string {
	d.t.Helper()
	mnt := filepath.Join(d.t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		d.t.Fatal(err)
	}
	args := append([]string{"mount", "--daemon"}, flags...)
	d.ok(extraEnv, append(args, store, mnt)...)
	d.t.Cleanup(func() {
		if isMounted(mnt) {
			d.run(nil, "umount", mnt)
		}
		if isMounted(mnt) {
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt
}

func isMounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
