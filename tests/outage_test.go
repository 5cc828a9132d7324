package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/s3test"
)

// TestCrashDuringOutage: the bucket's network goes away, the app keeps
// writing and closing files (a chat backup), the mount is killed with
// SIGKILL while the bucket is still unreachable; after the network is back
// the next mount on the same device uploads and commits every file that
// was closed before the last commit attempt, and a second device reads
// them all.
func TestCrashDuringOutage(t *testing.T) {
	st, p, pass, dev := initBehindProxy(t)
	flags := []string{"--commit-interval", "300ms", "--device", "phone"}
	mnt := dev.mount(pass, st.location, flags...)
	files := map[string][]byte{"msgstore.db": crashContent("db", 0, 5<<20+3)}
	writeFile(t, filepath.Join(mnt, "msgstore.db"), files["msgstore.db"])

	p.SetDown(true)
	for i := range 6 {
		name := fmt.Sprintf("Media/IMG-%04d.jpg", i)
		files[name] = crashContent(name, 1, 300000+i*70000)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mnt, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mnt, name), files[name], 0o644); err != nil {
			t.Fatalf("writing during the outage: %v", err)
		}
	}
	files["msgstore.db"] = crashContent("db", 2, 6<<20+5) // the nightly rewrite
	if err := os.WriteFile(filepath.Join(mnt, "msgstore.db.tmp"), files["msgstore.db"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "msgstore.db.tmp"), filepath.Join(mnt, "msgstore.db")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a few commit attempts: the intent is written
	kill9(t, mountPID(t, mnt))
	detach(t, mnt)
	staged, _ := filepath.Glob(filepath.Join(dev.cacheDir(), "sealfs", "*", "stage", "objects", "*"))
	if len(staged) == 0 {
		t.Fatalf("nothing staged in the cache directory after the crash")
	}
	for _, f := range staged {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if bytes.Contains(b, data[:64]) || bytes.Contains(b, []byte(name)) {
				t.Fatalf("staged file %s holds plaintext of %s", f, name)
			}
		}
	}

	p.SetDown(false)
	dev.ok(pass, append([]string{"mount", "--daemon"}, append(flags, st.location, mnt)...)...)
	for name, data := range files {
		if got, err := os.ReadFile(filepath.Join(mnt, name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("after the recovery %s: %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
	}
	dev.ok(nil, "umount", mnt)
	left, _ := filepath.Glob(filepath.Join(dev.cacheDir(), "sealfs", "*", "stage", "objects", "*"))
	if len(left) != 0 {
		t.Errorf("%d objects still staged after the recovered mount's clean unmount", len(left))
	}
	laptop := newDevice(t, "laptop", st.env)
	ro := laptop.mount(pass, st.location, "--read-only", "--device", "laptop")
	for name, data := range files {
		if got, err := os.ReadFile(filepath.Join(ro, name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("second device %s: %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
	}
	laptop.ok(nil, "umount", ro)
	if r := dev.run(pass, "check", st.location); r.code != 0 {
		t.Errorf("sealfs check: %s", r)
	}
}

// TestUnmountDuringOutage is what the user sees when the bucket is down at
// unmount: umount exits 13 saying the changes stay staged on this device;
// the next mount commits them and says so. If another device wrote in the
// meantime, the next mount sets the files aside in a recovery folder,
// names it, and merges nothing.
func TestUnmountDuringOutage(t *testing.T) {
	st, p, pass, phone := initBehindProxy(t)
	flags := []string{"--device", "phone", "--fsync-timeout", "2s"}
	mountArgs := func(mnt string) []string {
		return append(append([]string{"mount", "--daemon"}, flags...), st.location, mnt)
	}
	// unmountDown writes name while the bucket is down and unmounts: the
	// changes must stay staged (exit 13, one line saying so).
	unmountDown := func(mnt, name string, data []byte) {
		t.Helper()
		p.SetDown(true)
		if err := os.WriteFile(filepath.Join(mnt, name), data, 0o644); err != nil {
			t.Fatalf("writing during the outage: %v", err)
		}
		r := phone.run(nil, "umount", mnt)
		msg := strings.TrimSpace(r.stderr)
		if r.code != 13 || !strings.Contains(msg, "staged") || !strings.HasPrefix(msg[strings.LastIndex(msg, "\n")+1:], "sealfs: error: ") {
			t.Fatalf("umount while the bucket is down: want exit 13 saying the changes stay staged, got %s", r)
		}
		if isMounted(mnt) {
			t.Fatal("the mount is still there after umount")
		}
		p.SetDown(false)
	}

	mnt := phone.mount(pass, st.location, flags...)
	first := []byte("a voice note recorded while the bucket was down")
	unmountDown(mnt, "voice-1.opus", first)
	r := phone.ok(pass, mountArgs(mnt)...)
	if !strings.Contains(r.stderr, "committed the changes an earlier mount") {
		t.Errorf("the next mount does not say it committed the staged changes: %s", r)
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "voice-1.opus")); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("after the replay voice-1.opus: %q, %v", got, err)
	}

	// The phone's changes stay staged; meanwhile the laptop takes over
	// (the phone's lease was not released) and commits.
	second := []byte("a second voice note, staged on the phone")
	unmountDown(mnt, "voice-2.opus", second)
	laptop := newDevice(t, "laptop", st.env)
	lm := laptop.mount(pass, st.location, "--device", "laptop", "--force")
	writeFile(t, filepath.Join(lm, "laptop.txt"), []byte("written on the laptop"))
	laptop.ok(nil, "umount", lm)

	r = phone.ok(pass, mountArgs(mnt)...)
	m := regexp.MustCompile(`set aside in (\S+/\.sealfs-recovered/[^,]+),`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("the next mount does not name the recovery folder: %s", r)
	}
	if got, err := os.ReadFile(filepath.Join(m[1], "voice-2.opus")); err != nil || !bytes.Equal(got, second) {
		t.Errorf("recovered voice-2.opus: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "voice-2.opus")); err == nil {
		t.Error("the staged file was merged into the tree the laptop wrote")
	}
	if got := readFile(t, filepath.Join(mnt, "laptop.txt")); got != "written on the laptop" {
		t.Errorf("laptop.txt: %q", got)
	}
	phone.ok(nil, "umount", mnt)
}

// initBehindProxy creates a vault on MinIO reached through a proxy the test
// can cut, and the device "phone" that reaches it that way.
func initBehindProxy(t *testing.T) (storeSetup, *s3test.Proxy, []string, *device) {
	requireFUSE(t)
	st := s3Store(t)
	srv := s3test.Server(t)
	p := s3test.NewProxy(t, strings.TrimPrefix(srv.Endpoint, "http://"))
	st.env["AWS_ENDPOINT_URL"] = "http://" + p.Addr()
	pass := []string{"SEALFS_PASSPHRASE=outage passphrase"}
	dev := newDevice(t, "phone", st.env)
	dev.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)
	return st, p, pass, dev
}
