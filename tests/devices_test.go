package tests

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
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

// TestDevicesRollbackEveryCommand (issue 13, defect 2): every command that
// opens the vault on a device keeps that device's mark of the newest commit
// it has seen, and every one refuses a store rolled back behind it. A
// writer commits twice; three devices that never write each see the newest
// commit one way (a read-only mount, check, info); the store's head is put
// back to the first commit. Then on every one of those devices, and on the
// writer, a read-only mount is refused with exit 1 and exactly the line the
// writer's read-write mount is refused with, and so are check, prune, info
// and an offline snapshot (one line: the store, what this device saw, one
// hint; it once passed through each layer's prefix and prune gave the
// hint twice); none of them changed the store. A read-only mount with --accept-rollback shows the older
// commit and makes it the device's mark.
func TestDevicesRollbackEveryCommand(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	st := s3Store(t)
	loc := st.location
	pass := []string{"SEALFS_PASSPHRASE=every command keeps the mark"}
	writer := newDevice(t, "laptop", st.env)
	writer.ok(pass, append(append([]string{"init"}, fastKDF...), loc)...)

	mnt := writer.mount(pass, loc, "--device", "laptop")
	writeFile(t, filepath.Join(mnt, "backup-1.db"), []byte("first backup"))
	writer.ok(nil, "umount", mnt)
	store := st.open(t)
	defer store.Close()
	ctx := context.Background()
	oldHead, _, err := store.Get(ctx, "head")
	if err != nil {
		t.Fatal(err)
	}
	mnt = writer.mount(pass, loc, "--device", "laptop")
	writeFile(t, filepath.Join(mnt, "backup-2.db"), []byte("second backup"))
	writer.ok(nil, "umount", mnt)

	// Devices that only read, each seeing the newest commit one way.
	readers := []struct {
		how string
		see func(d *device)
	}{
		{"read-only mount", func(d *device) {
			m := d.mount(pass, loc, "--read-only", "--device", d.name)
			if got := readFile(t, filepath.Join(m, "backup-2.db")); got != "second backup" {
				t.Fatalf("the read-only mount reads backup-2.db as %q", got)
			}
			d.ok(nil, "umount", m)
		}},
		{"check", func(d *device) { d.ok(pass, "check", loc) }},
		{"info", func(d *device) { d.ok(pass, "info", loc) }},
	}
	devices := []*device{writer}
	for _, r := range readers {
		d := newDevice(t, "saw it by "+r.how, st.env)
		r.see(d)
		devices = append(devices, d)
	}

	if _, err := store.Put(ctx, "head", oldHead, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	before := storeObjects(t, store)

	// The reference: the writer's read-write mount.
	refused := func(d *device, args ...string) (line string, r result) {
		t.Helper()
		r = d.run(pass, args...)
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, "rolled back") {
				if line != "" {
					t.Errorf("%s: sealfs %s: more than one line says rolled back: %s", d.name, strings.Join(args, " "), r)
				}
				line = l
			}
		}
		if r.code != 1 || line == "" || !strings.Contains(line, "--accept-rollback") {
			t.Errorf("%s: sealfs %s on a rolled-back store: want exit 1 and a line saying it was rolled back (and --accept-rollback), got %s",
				d.name, strings.Join(args, " "), r)
		}
		return line, r
	}
	mountArgs := func(flags ...string) []string {
		m := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(m, 0o755); err != nil {
			t.Fatal(err)
		}
		return append(append([]string{"mount", "--daemon"}, flags...), loc, m)
	}
	want, _ := refused(writer, mountArgs()...)
	t.Logf("the writer's read-write mount: %s", want)
	_, reason, ok := strings.Cut(want, ": the store's last ")
	if !ok {
		t.Fatalf("the refusal does not say what the store's last commit is: %q", want)
	}

	commands := []struct {
		name string
		args func() []string
	}{
		{"mount --read-only", func() []string { return mountArgs("--read-only") }},
		{"mount", func() []string { return mountArgs() }},
		{"check", func() []string { return []string{"check", loc} }},
		{"check --read-data", func() []string { return []string{"check", "--read-data", loc} }},
		{"prune", func() []string { return []string{"prune", "--keep-last", "1", "--grace", "0", loc} }},
		{"prune --dry-run", func() []string { return []string{"prune", "--keep-last", "1", "--dry-run", loc} }},
		{"info", func() []string { return []string{"info", loc} }},
		{"snapshot", func() []string { return []string{"snapshot", loc} }},
	}
	for _, d := range devices {
		for _, c := range commands {
			args := c.args()
			line, r := refused(d, args...)
			switch {
			case !strings.HasSuffix(line, ": the store's last "+reason):
				t.Errorf("%s: sealfs %s: refused with\n\t%q\nwant the reason\n\t%q", d.name, c.name, line, reason)
			case line != want:
				t.Errorf("%s: sealfs %s: refused with\n\t%q\nwant the read-write mount's very line\n\t%q", d.name, c.name, line, want)
			}
			if c.name == "info" && strings.Contains(r.stdout, "Last commit") {
				t.Errorf("%s: info printed the rolled-back store's state:\n%s", d.name, r.stdout)
			}
			if m := args[len(args)-1]; args[0] == "mount" && isMounted(m) {
				t.Errorf("%s: sealfs %s was not refused: it mounted the rolled-back store", d.name, c.name)
				d.run(nil, "umount", m)
				if isMounted(m) {
					_ = exec.Command("umount", "-l", m).Run()
				}
			}
		}
	}
	after := storeObjects(t, store)
	delete(before, "lease") // prune and snapshot take the lease before they load the head
	delete(after, "lease")
	if !maps.Equal(before, after) {
		t.Errorf("the refused commands changed the store:\nbefore %v\nafter  %v", before, after)
	}
	if head, _, err := store.Get(ctx, "head"); err != nil || !bytes.Equal(head, oldHead) {
		t.Errorf("the rolled-back head was replaced (err %v)", err)
	}

	// Restored on purpose: a read-only mount accepts it, and the device
	// remembers.
	ro := devices[1]
	m := ro.mount(pass, loc, "--read-only", "--accept-rollback")
	if got := readFile(t, filepath.Join(m, "backup-1.db")); got != "first backup" {
		t.Errorf("after --accept-rollback backup-1.db is %q", got)
	}
	if _, err := os.Stat(filepath.Join(m, "backup-2.db")); err == nil {
		t.Error("after --accept-rollback the read-only mount still shows the newer commit's backup-2.db")
	}
	ro.ok(nil, "umount", m)
	ro.ok(pass, "check", loc)
	ro.ok(pass, "info", loc)
}

// storeObjects is every object in s: key to size and ETag.
func storeObjects(t *testing.T, s remote.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.List(context.Background(), "", func(o remote.ObjectInfo) error {
		out[o.Key] = fmt.Sprintf("%d %s", o.Size, o.ETag)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
