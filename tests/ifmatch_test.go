package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote/s3test"
)

// TestJourneyLikeCephRGW is the issue-19 journey on a store that answers
// If-Match like Ceph RGW 16.2 (the quoted form always 412, the unquoted
// form compared): init, a read-write mount with small files and a
// multi-chunk file, a second writer refused (exit 11), unmount, a
// read-only mount on another device with the same bytes, snapshots,
// prune, check and passwd. Every command that writes conditionally proves
// the form first; a quoted If-Match anywhere else would fail its commit.
func TestJourneyLikeCephRGW(t *testing.T) {
	requireFUSE(t)
	t.Parallel()
	p := s3test.NewIfMatchProxy(t, s3test.LikeCephRGW)
	st := s3StoreOn(t, p.S3Server)
	pass := []string{"SEALFS_PASSPHRASE=the gateway wants it bare"}
	a := newDevice(t, "device A", st.env)
	rk := parseRecoveryKey(t, a.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...).stdout)

	mntA := a.mount(pass, st.location, "--device", "a")
	b := newBackup(t, mntA, 19)
	b.mkdir("Media")
	b.writeInPieces("msgstore.db", 9<<20, true) // three chunks, fsynced: a commit
	for i := range 20 {
		b.writeFile(filepath.Join("Media", "IMG-"+string(rune('a'+i))+".jpg"), b.content(1000+i*700))
	}
	want := scanTree(t, mntA)

	dev := newDevice(t, "device B", st.env)
	mntB := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mntB, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := dev.run(pass, "mount", "--daemon", "--device", "b", st.location, mntB); r.code != 11 || !strings.Contains(r.stderr, `"a"`) {
		t.Fatalf("a second writer while device A holds the lease: want exit 11 naming it, got %s", r)
	}
	a.ok(nil, "snapshot", st.location) // through A's mount
	a.ok(nil, "umount", mntA)

	ro := dev.mount(pass, st.location, "--read-only")
	compareTrees(t, "device B read-only", want, scanTree(t, ro))
	dev.ok(nil, "umount", ro)

	dev.ok(pass, "snapshot", "--device", "b", st.location) // takes the lease itself
	listSnapshots(t, dev, pass, st.location, 3)            // A's, A's unmount, B's
	dev.ok(pass, "prune", "--keep-last", "1", "--grace", "0", st.location)
	listSnapshots(t, dev, pass, st.location, 1)
	if r := dev.ok(pass, "check", "--read-data", st.location); !strings.Contains(r.stdout, "no damage found") {
		t.Fatalf("check --read-data:\n%s", r.stdout)
	}
	const newPass = "a new passphrase, set through the gateway"
	dev.ok([]string{"SEALFS_RECOVERY_KEY=" + rk, "SEALFS_NEW_PASSPHRASE=" + newPass}, "passwd", st.location)
	rw := dev.mount([]string{"SEALFS_PASSPHRASE=" + newPass}, st.location, "--device", "b")
	compareTrees(t, "device B read-write after prune and passwd", want, scanTree(t, rw))
	dev.ok(nil, "umount", rw)

	quoted, unquoted := p.IfMatchSeen()
	t.Logf("If-Match PUTs: %d quoted (the self-tests' probes, refused), %d unquoted", quoted, unquoted)
	if unquoted == 0 {
		t.Fatal("no unquoted If-Match reached the server")
	}
}

// TestMountNeitherIfMatchForm: a store whose compare-and-swap works in
// neither form is refused a read-write mount with a message that says
// which check failed and how to go on; it mounts read-only; with
// --single-device it mounts, commits, keeps the lease against a second
// device, and takes snapshots and prunes, sending no If-Match at all.
func TestMountNeitherIfMatchForm(t *testing.T) {
	requireFUSE(t)
	t.Parallel()
	p := s3test.NewIfMatchProxy(t, s3test.RefuseIfMatch)
	st := s3StoreOn(t, p.S3Server)
	pass := []string{"SEALFS_PASSPHRASE=no compare and swap here"}
	a := newDevice(t, "device A", st.env)
	a.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)

	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	r := a.run(pass, "mount", "--daemon", st.location, mnt)
	t.Logf("refused: %s", r.stderr)
	line := strings.TrimSuffix(r.stderr, "\n")
	if r.code != 1 || strings.Contains(line, "\n") || !strings.HasPrefix(line, "sealfs: error: ") {
		t.Fatalf("read-write mount: want exit 1 and one error line, got %s", r)
	}
	for _, part := range []string{"honours If-Match in neither form", `quoted (If-Match: "<etag>"): refused the current ETag`,
		"unquoted (If-Match: <etag>): refused the current ETag", "--single-device"} {
		if !strings.Contains(line, part) {
			t.Errorf("the refusal does not say %q", part)
		}
	}
	if isMounted(mnt) {
		t.Fatal("the refused mount left a mount behind")
	}
	if r := a.run(pass, "prune", "--keep-last", "1", st.location); r.code != 1 || !strings.Contains(r.stderr, "neither form") {
		t.Fatalf("prune without --single-device: want exit 1 naming the failed check, got %s", r)
	}
	ro := a.mount(pass, st.location, "--read-only")
	a.ok(nil, "umount", ro)

	rw := a.mount(pass, st.location, "--single-device", "--device", "a")
	writeFile(t, filepath.Join(rw, "chat.db"), []byte("written in single-device mode"))
	dev := newDevice(t, "device B", st.env)
	mntB := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mntB, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := dev.run(pass, "mount", "--daemon", "--single-device", "--device", "b", st.location, mntB); r.code != 11 {
		t.Fatalf("a second single-device writer while device A holds the lease: want exit 11, got %s", r)
	}
	a.ok(nil, "umount", rw)
	ro = dev.mount(pass, st.location, "--read-only")
	if got := readFile(t, filepath.Join(ro, "chat.db")); got != "written in single-device mode" {
		t.Fatalf("after the single-device mount chat.db is %q", got)
	}
	dev.ok(nil, "umount", ro)
	if r := dev.ok(pass, "snapshot", "--single-device", st.location); !strings.Contains(r.stderr, "single-device mode") {
		t.Errorf("snapshot --single-device does not warn: %s", r)
	}
	dev.ok(pass, "prune", "--single-device", "--keep-last", "1", "--grace", "0", st.location)
	listSnapshots(t, dev, pass, st.location, 1)
	dev.ok(pass, "check", st.location)

	// Each self-test sent one If-Match in each form, both refused, and
	// stopped; single-device mode sends none.
	if quoted, unquoted := p.IfMatchSeen(); quoted != unquoted || quoted == 0 {
		t.Errorf("If-Match PUTs: %d quoted, %d unquoted; want one of each per self-test and none from single-device mode", quoted, unquoted)
	}
}
