package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/vault"
)

func TestFindMount(t *testing.T) {
	info := `22 1 0:21 / /proc rw,nosuid - proc proc rw
95 22 0:50 / /tmp/a\040b rw - fuse.sealfs sealfs rw,user_id=0
96 22 0:51 / /tmp/c rw - ext4 /dev/vda rw
97 96 0:52 / /tmp/c rw - fuse.sealfs sealfs rw
`
	for _, tc := range []struct {
		dir, fstype string
		ok          bool
	}{
		{"/tmp/a b", "fuse.sealfs", true},
		{"/tmp/c", "fuse.sealfs", true}, // stacked: the last one is visible
		{"/proc", "proc", true},
		{"/tmp", "", false},
	} {
		fstype, ok := findMount(strings.NewReader(info), tc.dir)
		if fstype != tc.fstype || ok != tc.ok {
			t.Errorf("findMount(%q) = %q, %v; want %q, %v", tc.dir, fstype, ok, tc.fstype, tc.ok)
		}
	}
}

func TestCheckFUSEMissingDevice(t *testing.T) {
	old := fuseDevice
	t.Cleanup(func() { fuseDevice = old })
	fuseDevice = filepath.Join(t.TempDir(), "fuse")
	err := checkFUSE()
	if err == nil || !strings.Contains(err.Error(), "modprobe fuse") {
		t.Fatalf("missing device: got %v, want a hint to load the module", err)
	}
	if os.Geteuid() != 0 { // root opens anything
		os.WriteFile(fuseDevice, nil, 0)
		if err := checkFUSE(); err == nil || !strings.Contains(err.Error(), "permission") {
			t.Fatalf("forbidden device: got %v", err)
		}
	}
}

func TestCheckMountpoint(t *testing.T) {
	dir := t.TempDir()
	if _, err := checkMountpoint(dir); err != nil {
		t.Fatalf("empty dir refused: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
	for name, tc := range map[string]struct{ path, want string }{
		"non-empty":  {dir, "not empty"},
		"missing":    {filepath.Join(dir, "nope"), "does not exist"},
		"not a dir":  {filepath.Join(dir, "f"), "not a directory"},
		"is a mount": {"/proc", "already a mount point"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := checkMountpoint(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestExitCodesAndErrorLine(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{errors.New("plain"), exitError},
		{usageErr("bad flag"), exitUsage},
		{withCode(exitWrongKey, errors.New("wrong passphrase"), "hint"), exitWrongKey},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
	var buf bytes.Buffer
	printError(&buf, withCode(exitWrongKey, errors.New("wrong passphrase\nfor x"), "try again"))
	if got := buf.String(); got != "sealfs: error: wrong passphrase for x (try again)\n" {
		t.Errorf("error line = %q", got)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"mount", "onlyone"}, {"init"}, {"mount", "--no-such-flag", "a", "b"}, {"frobnicate"},
		{"mount", "--memory-budget", "8", "a", "b"}, {"mount", "--memory-budget", "-1", "a", "b"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
		if code != exitUsage {
			t.Errorf("sealfs %v: exit %d, want %d (stderr %q)", args, code, exitUsage, errb.String())
		}
		if !strings.HasPrefix(errb.String(), "sealfs: error: ") {
			t.Errorf("sealfs %v: stderr %q is not one error line", args, errb.String())
		}
	}
}

// TestReportRecoveryNamesLostFiles: a mount that found files of an
// earlier mount lost says so on stderr, naming every one, and says why
// the others were set aside (not another device's commit).
func TestReportRecoveryNamesLostFiles(t *testing.T) {
	var stderr bytes.Buffer
	a := &app{stderr: &stderr}
	a.reportRecovery("/mnt/chat", &vault.Recovery{
		Folder: "/.sealfs-recovered/2026-01-02T03-04-05Z", Files: []string{"/.sealfs-recovered/2026-01-02T03-04-05Z/b.jpg"},
		Lost: []string{"/db/msgstore.db", "/media/a, b.jpg"}, Written: time.Now(), Device: "phone",
	})
	out := stderr.String()
	for _, want := range []string{"1 files", "set aside in /mnt/chat/.sealfs-recovered/2026-01-02T03-04-05Z", "data of its changes is lost",
		"error: 2 files", `"/db/msgstore.db", "/media/a, b.jpg"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "another device") {
		t.Errorf("stderr blames another device's commit:\n%s", out)
	}
}
