package tests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// TestDevicesLease: one writer at a time. While the laptop has the vault
// mounted read-write, the phone is refused with exit 11 and a message naming
// the laptop, but may mount read-only; after the laptop's clean unmount the
// phone mounts read-write at once; --force takes over from a live writer,
// which is fenced and says so when it unmounts.
func TestDevicesLease(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	st := s3Store(t)
	pass := []string{"SEALFS_PASSPHRASE=two devices one vault"}
	laptop := newDevice(t, "laptop", st.env)
	phone := newDevice(t, "phone", st.env)
	laptop.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)

	mntL := laptop.mount(pass, st.location, "--device", "laptop")
	writeFile(t, filepath.Join(mntL, "chat.db"), []byte("version 1 of the chat database"))

	mntP := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mntP, 0o755); err != nil {
		t.Fatal(err)
	}
	r := phone.run(pass, "mount", "--daemon", "--device", "phone", st.location, mntP)
	t.Logf("refused: %s", r.stderr)
	if r.code != 11 || !strings.Contains(r.stderr, `"laptop"`) || !strings.Contains(r.stderr, "--read-only") {
		t.Fatalf("read-write mount while the laptop holds the vault: want exit 11 naming the laptop and --read-only, got %s", r)
	}
	if isMounted(mntP) {
		t.Fatal("the refused mount left a mount behind")
	}
	info := phone.ok(pass, "info", st.location)
	if !strings.Contains(info.stdout, `held by device "laptop"`) {
		t.Errorf("info does not name the lease holder:\n%s", info.stdout)
	}

	ro := phone.mount(pass, st.location, "--read-only", "--device", "phone", "--follow-interval", "200ms")
	if err := os.WriteFile(filepath.Join(ro, "x"), []byte("x"), 0o644); err == nil {
		t.Error("writing into a read-only mount succeeded")
	}
	// The read-only phone follows the laptop's new commits.
	if got := readFile(t, filepath.Join(ro, "chat.db")); got != "version 1 of the chat database" {
		t.Fatalf("the read-only phone reads %q", got)
	}
	writeFile(t, filepath.Join(mntL, "media-001.jpg"), []byte("a photo sent after the phone mounted"))
	waitFor(t, "the phone to see the laptop's new file", func() bool {
		b, err := os.ReadFile(filepath.Join(ro, "media-001.jpg"))
		return err == nil && string(b) == "a photo sent after the phone mounted"
	})
	phone.ok(nil, "umount", ro)

	laptop.ok(nil, "umount", mntL)
	rw := phone.mount(pass, st.location, "--device", "phone")
	if got := readFile(t, filepath.Join(rw, "chat.db")); got != "version 1 of the chat database" {
		t.Fatalf("phone reads %q", got)
	}

	// The laptop forces its way back in while the phone is still mounted.
	mntL = laptop.mount(pass, st.location, "--device", "laptop", "--force")
	writeFile(t, filepath.Join(mntL, "chat.db"), []byte("version 2, written by the laptop after the takeover"))
	if err := writeSync(filepath.Join(rw, "late.txt"), []byte("the fenced phone writes this")); err == nil {
		t.Error("the fenced phone's fsync succeeded after another device took the vault over")
	}
	r = phone.run(nil, "umount", rw)
	if r.code != 13 || !strings.Contains(r.stderr, "staged") {
		t.Errorf("umount of the fenced mount: want exit 13 saying its changes stay staged, got %s", r)
	}
	laptop.ok(nil, "umount", mntL)

	check := laptop.mount(pass, st.location, "--read-only")
	if got := readFile(t, filepath.Join(check, "chat.db")); got != "version 2, written by the laptop after the takeover" {
		t.Errorf("after the takeover chat.db is %q", got)
	}
	if _, err := os.Stat(filepath.Join(check, "late.txt")); err == nil {
		t.Error("a file the fenced phone wrote after the takeover was committed")
	}
	laptop.ok(nil, "umount", check)

	// The phone's unsaved work was kept: its next read-write mount sets it
	// aside, says where, and merges nothing.
	rw2 := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(rw2, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if isMounted(rw2) {
			phone.run(nil, "umount", rw2)
		}
	})
	r = phone.ok(pass, "mount", "--daemon", "--device", "phone", st.location, rw2)
	m := regexp.MustCompile(`set aside in (\S+/\.sealfs-recovered/[^,]+),`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("the phone's next mount does not name a recovery folder: %s", r)
	}
	if got := readFile(t, filepath.Join(m[1], "late.txt")); got != "the fenced phone writes this" {
		t.Errorf("the fenced phone's late.txt was not kept: %q", got)
	}
	if got := readFile(t, filepath.Join(rw2, "chat.db")); got != "version 2, written by the laptop after the takeover" {
		t.Errorf("after the recovery chat.db is %q", got)
	}
	phone.ok(nil, "umount", rw2)
}

// TestDevicesRollback: a device that has seen commit N refuses a store
// whose head was put back to an older commit, names both, and mounts it
// after --accept-rollback.
func TestDevicesRollback(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	st := s3Store(t)
	pass := []string{"SEALFS_PASSPHRASE=rollback detection"}
	d := newDevice(t, "laptop", st.env)
	d.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)

	mnt := d.mount(pass, st.location, "--device", "laptop")
	writeFile(t, filepath.Join(mnt, "backup-1.db"), []byte("first backup"))
	d.ok(nil, "umount", mnt)

	store := st.open(t)
	defer store.Close()
	ctx := context.Background()
	oldHead, _, err := store.Get(ctx, "head")
	if err != nil {
		t.Fatal(err)
	}

	mnt = d.mount(pass, st.location, "--device", "laptop")
	writeFile(t, filepath.Join(mnt, "backup-2.db"), []byte("second backup"))
	d.ok(nil, "umount", mnt)

	if _, err := store.Put(ctx, "head", oldHead, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	mnt2 := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt2, 0o755); err != nil {
		t.Fatal(err)
	}
	r := d.run(pass, "mount", "--daemon", st.location, mnt2)
	t.Logf("rollback: %s", r.stderr)
	if r.code != 1 || !strings.Contains(r.stderr, "rolled back") || !strings.Contains(r.stderr, "--accept-rollback") {
		t.Fatalf("mount of a rolled-back store: want exit 1 saying so, got %s", r)
	}
	if isMounted(mnt2) {
		t.Fatal("the refused mount left a mount behind")
	}
	// A device that never saw the newer commit cannot tell (documented).
	fresh := newDevice(t, "new phone", st.env)
	m := fresh.mount(pass, st.location, "--read-only")
	if _, err := os.Stat(filepath.Join(m, "backup-2.db")); err == nil {
		t.Error("the rolled-back head still shows backup-2.db")
	}
	fresh.ok(nil, "umount", m)

	mnt = d.mount(pass, st.location, "--accept-rollback")
	if got := readFile(t, filepath.Join(mnt, "backup-1.db")); got != "first backup" {
		t.Errorf("after --accept-rollback backup-1.db is %q", got)
	}
	d.ok(nil, "umount", mnt)
	mnt = d.mount(pass, st.location) // accepted once, remembered
	d.ok(nil, "umount", mnt)
}

// waitFor polls cond until it holds (see waitUntil).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitUntil(t, what, func() string {
		if cond() {
			return ""
		}
		return "not yet"
	})
}

// waitDeadline bounds a wait for something that a healthy run sees within
// a second or two, even under load: it measures nothing, a slow machine
// only makes the test wait longer.
const waitDeadline = 2 * time.Minute

// waitUntil polls check until it returns "" (otherwise it says what is
// still missing), failing with its last answer after waitDeadline.
func waitUntil(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		missing := check()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", waitDeadline, what, missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := writeSync(path, data); err != nil {
		t.Fatal(err)
	}
}

// writeSync writes path and fsyncs it: the data is committed when it
// returns nil.
func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
