package remote_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/storetest"
)

func TestDirReservedAndTempFilesHidden(t *testing.T) {
	root := t.TempDir()
	d, err := remote.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Put(ctx, ".sealfs/tmp/x", []byte("x"), remote.PutOptions{}); err == nil {
		t.Error("put into the reserved .sealfs directory succeeded")
	}
	os.WriteFile(filepath.Join(root, ".sealfs", "tmp", "stray.tmp"), []byte("x"), 0o600)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d.Put(ctx, fmt.Sprintf("k/%d", i%20), make([]byte, 64<<10), remote.PutOptions{})
		}
	})
	for range 50 {
		d.List(ctx, "", func(oi remote.ObjectInfo) error {
			if !strings.HasPrefix(oi.Key, "k/") {
				t.Errorf("listed %q", oi.Key)
			}
			return nil
		})
	}
	close(stop)
	wg.Wait()
}

func TestDirRemovesOnlyStaleTempFiles(t *testing.T) {
	root := t.TempDir()
	if _, err := remote.NewDir(root); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, ".sealfs", "tmp")
	old, young := filepath.Join(tmp, "old.tmp"), filepath.Join(tmp, "young.tmp")
	os.WriteFile(old, []byte("x"), 0o600)
	os.WriteFile(young, []byte("x"), 0o600)
	os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	if _, err := remote.NewDir(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a crashed writer's temp file from 2h ago is still there (%v)", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("a live writer's temp file was removed: %v", err)
	}
}

// Every Put makes a new version with a new ETag, also of identical bytes,
// kept in the file: it survives reopening, and a compare-and-swap on an
// earlier version's ETag is refused even if the content is the same.
func TestDirETagPerPut(t *testing.T) {
	root := t.TempDir()
	d, _ := remote.NewDir(root)
	ctx := context.Background()
	e1, err := d.Put(ctx, "head", []byte("same"), remote.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Getxattr(filepath.Join(root, "head"), "user.sealfs.etag", make([]byte, 64)); err != nil {
		t.Skipf("file system without user xattrs: %v", err)
	}
	e2, err := d.Put(ctx, "head", []byte("same"), remote.PutOptions{IfMatch: e1})
	if err != nil {
		t.Fatal(err)
	}
	if e2 == e1 || len(e2) != 32 {
		t.Fatalf("ETags %q then %q: want a new 32-digit ETag per put", e1, e2)
	}
	if e1 == contentETag([]byte("same")) {
		t.Errorf("ETag %q is the content's hash", e1)
	}
	if _, err := d.Put(ctx, "head", []byte("same"), remote.PutOptions{IfMatch: e1}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("CAS on the previous version of identical bytes: %v, want ErrPrecondition", err)
	}
	d2, _ := remote.NewDir(root)
	checkETag(t, d2, "head", e2)
}

// A file without the attribute (written where xattrs are unsupported, by
// an older version there, or copied without xattrs) has the content's hash
// as its ETag, stable across reopening, and compare-and-swap works on it.
// So does a file whose attribute holds that hash (written by a version
// before random ETags).
func TestDirETagWithoutXattr(t *testing.T) {
	root := t.TempDir()
	d, _ := remote.NewDir(root)
	ctx := context.Background()
	if _, err := d.Put(ctx, "head", []byte("commit 1"), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Removexattr(filepath.Join(root, "head"), "user.sealfs.etag"); err != nil {
		t.Skipf("file system without user xattrs: %v", err)
	}
	etag := contentETag([]byte("commit 1"))
	d2, _ := remote.NewDir(root)
	checkETag(t, d2, "head", etag)
	e2, err := d2.Put(ctx, "head", []byte("commit 2"), remote.PutOptions{IfMatch: etag})
	if err != nil {
		t.Fatalf("CAS on a file without xattr: %v", err)
	}
	if _, err := d2.Put(ctx, "head", []byte("commit 3"), remote.PutOptions{IfMatch: etag}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("stale CAS: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(root, "head"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("object mode %v, want 0600", fi.Mode().Perm())
	}

	old := contentETag([]byte("commit 2"))
	if err := unix.Setxattr(filepath.Join(root, "head"), "user.sealfs.etag", []byte(old), 0); err != nil {
		t.Fatal(err)
	}
	checkETag(t, d2, "head", old)
	if _, err := d2.Put(ctx, "head", []byte("commit 3"), remote.PutOptions{IfMatch: e2}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("CAS on an ETag the file no longer has: %v", err)
	}
	if _, err := d2.Put(ctx, "head", []byte("commit 3"), remote.PutOptions{IfMatch: old}); err != nil {
		t.Fatalf("CAS on an older version's hash ETag: %v", err)
	}
}

// On a file system without user xattrs, Put reports the content's hash,
// which is what every reader computes there; the whole contract holds.
func TestDirWithoutXattrsConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remote.Store {
		d := newDir(t).(*remote.Dir)
		remote.WithoutXattrs(d)
		return d
	})
	root := t.TempDir()
	d, _ := remote.NewDir(root)
	remote.WithoutXattrs(d)
	ctx := context.Background()
	etag, err := d.Put(ctx, "head", []byte("commit 1"), remote.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := contentETag([]byte("commit 1")); etag != want {
		t.Errorf("put without xattrs returned ETag %q, want the content's hash %q", etag, want)
	}
	if _, err := unix.Getxattr(filepath.Join(root, "head"), "user.sealfs.etag", make([]byte, 64)); err == nil {
		t.Error("the ETag attribute was set")
	}
	checkETag(t, d, "head", etag)
}

// checkETag checks that Stat, Get and List all report etag for key.
func checkETag(t *testing.T, d *remote.Dir, key, etag string) {
	t.Helper()
	ctx := context.Background()
	if info, err := d.Stat(ctx, key); err != nil || info.ETag != etag {
		t.Errorf("stat %s: ETag %q (%v), want %q", key, info.ETag, err, etag)
	}
	if _, info, err := d.Get(ctx, key); err != nil || info.ETag != etag {
		t.Errorf("get %s: ETag %q (%v), want %q", key, info.ETag, err, etag)
	}
	listed := ""
	d.List(ctx, key, func(oi remote.ObjectInfo) error {
		if oi.Key == key {
			listed = oi.ETag
		}
		return nil
	})
	if listed != etag {
		t.Errorf("list %s: ETag %q, want %q", key, listed, etag)
	}
}

// contentETag is the ETag of a file without the attribute: the first half
// of the content's SHA-256 in hex.
func contentETag(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

const helperEnv = "SEALFS_DIR_HELPER"

// dirHelper is what the cross-process tests run in child processes (see
// TestMain); it prints one RESULT or ERROR line.
func dirHelper(spec string) {
	op, root, _ := strings.Cut(spec, ":")
	start, _ := strconv.ParseInt(os.Getenv(helperEnv+"_START"), 10, 64)
	time.Sleep(time.Until(time.Unix(0, start)))
	d, err := remote.NewDir(root)
	if err != nil {
		fmt.Println("ERROR", err)
		return
	}
	ctx := context.Background()
	switch op {
	case "create":
		_, err := d.Put(ctx, "lease", []byte(fmt.Sprint("pid ", os.Getpid())), remote.PutOptions{IfNoneMatch: true})
		switch {
		case err == nil:
			fmt.Println("RESULT WIN")
		case errors.Is(err, remote.ErrPrecondition):
			fmt.Println("RESULT REFUSED")
		default:
			fmt.Println("ERROR", err)
		}
	case "count":
		for i := 0; i < 10; {
			data, info, err := d.Get(ctx, "counter")
			if err != nil {
				fmt.Println("ERROR", err)
				return
			}
			v, _ := strconv.Atoi(strings.Fields(string(data))[0])
			_, err = d.Put(ctx, "counter", []byte(fmt.Sprintf("%d pid %d", v+1, os.Getpid())), remote.PutOptions{IfMatch: info.ETag})
			if err == nil {
				i++
			} else if !errors.Is(err, remote.ErrPrecondition) {
				fmt.Println("ERROR", err)
				return
			}
		}
		fmt.Println("RESULT DONE")
	}
}

// runHelpers starts n child processes doing op on root at the same moment
// and returns their RESULT lines.
func runHelpers(t *testing.T, n int, op, root string) []string {
	start := time.Now().Add(500 * time.Millisecond).UnixNano()
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+op+":"+root, helperEnv+"_START="+strconv.FormatInt(start, 10))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("helper %d: %v\n%s", i, err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "ERROR") {
					t.Errorf("helper %d: %s", i, line)
				}
				if r, ok := strings.CutPrefix(line, "RESULT "); ok {
					outs[i] = r
				}
			}
		})
	}
	wg.Wait()
	return outs
}

func TestDirCreateOnlyAcrossProcesses(t *testing.T) {
	for round := range 3 {
		root := t.TempDir()
		res := runHelpers(t, 6, "create", root)
		wins := 0
		for _, r := range res {
			if r == "WIN" {
				wins++
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: results %v, want exactly one WIN", round, res)
		}
	}
}

func TestDirCASAcrossProcesses(t *testing.T) {
	root := t.TempDir()
	d, _ := remote.NewDir(root)
	if _, err := d.Put(context.Background(), "counter", []byte("0 init"), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	const procs = 4
	res := runHelpers(t, procs, "count", root)
	data, _, err := d.Get(context.Background(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := strconv.Atoi(strings.Fields(string(data))[0]); v != procs*10 {
		t.Fatalf("counter %d after %d processes x 10 successful CAS (%v), want %d", v, procs, res, procs*10)
	}
}
