package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote/s3test"
)

// TestCrashDuringOutage: the bucket's network goes away, the app keeps
// writing and closing files (a chat backup), the mount is killed with
// SIGKILL while the bucket is still unreachable; after the network is back
// the next mount on the same device uploads and commits every file that
// was closed before the last commit attempt, and a second device reads
// them all.
func TestCrashDuringOutage(t *testing.T) {
	t.Parallel()
	o := initBehindProxy(t)
	st, p, pass, dev := o.st, o.proxy, o.pass, o.dev
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
	// Commit attempts fail while the bucket is down; each writes the
	// intent first. Crash once one names every file as last written.
	waitIntent(t, dev, o.keys(t), files)
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
	t.Parallel()
	o := initBehindProxy(t)
	st, p, pass, phone := o.st, o.proxy, o.pass, o.dev
	// A short --fsync-timeout for the mounts unmounted while the bucket is
	// down (umount gives up after 2 s without progress); the last mount,
	// whose umount must succeed, keeps the default 60 s, so that an upload
	// slowed by a busy machine is not taken for an outage.
	outageFlags := []string{"--device", "phone", "--fsync-timeout", "2s"}
	mountArgs := func(mnt string, flags []string) []string {
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

	mnt := phone.mount(pass, st.location, outageFlags...)
	first := []byte("a voice note recorded while the bucket was down")
	unmountDown(mnt, "voice-1.opus", first)
	r := phone.ok(pass, mountArgs(mnt, outageFlags)...)
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

	r = phone.ok(pass, mountArgs(mnt, []string{"--device", "phone"})...)
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

// outageSetup is a vault on MinIO reached through a proxy the test can
// cut, and the device "phone" that reaches it that way.
type outageSetup struct {
	st    storeSetup
	proxy *s3test.Proxy
	pass  []string
	rk    string // the recovery key
	dev   *device
}

func initBehindProxy(t *testing.T) *outageSetup {
	requireFUSE(t)
	o := &outageSetup{st: s3Store(t), pass: []string{"SEALFS_PASSPHRASE=outage passphrase"}}
	srv := s3test.Server(t)
	o.proxy = s3test.NewProxy(t, strings.TrimPrefix(srv.Endpoint, "http://"))
	o.st.env["AWS_ENDPOINT_URL"] = "http://" + o.proxy.Addr()
	o.dev = newDevice(t, "phone", o.st.env)
	out := o.dev.ok(o.pass, append(append([]string{"init"}, fastKDF...), o.st.location)...)
	o.rk = parseRecoveryKey(t, out.stdout)
	return o
}

// keys unlocks the vault with the recovery key (no Argon2), reading
// vault.json from MinIO directly: the proxy may be down.
func (o *outageSetup) keys(t *testing.T) *crypt.Keys {
	t.Helper()
	store := o.st.open(t)
	defer store.Close()
	data, _, err := store.Get(context.Background(), "vault.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := crypt.ParseVault(data)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := crypt.ParseRecoveryKey(o.rk)
	if err != nil {
		t.Fatal(err)
	}
	master, err := v.UnlockRecovery(rk)
	if err != nil {
		t.Fatal(err)
	}
	return crypt.DeriveKeys(master, v.Suite(), v.ChunkSize())
}

// waitIntent waits until the device's staging area holds an intent that
// names every file of want with its size, and every object the intent
// names is staged: a crash from then on must lose none of them. It reads
// a copy of the intent, never the live staging area (stage.Open cleans
// up the directory it opens).
func waitIntent(t *testing.T, d *device, keys *crypt.Keys, want map[string][]byte) {
	t.Helper()
	copyDir := t.TempDir()
	waitUntil(t, "an intent naming every file and its staged objects", func() string {
		return intentMissing(t, d, keys, copyDir, want)
	})
}

// intentMissing says what the staged intent lacks ("" for nothing).
func intentMissing(t *testing.T, d *device, keys *crypt.Keys, copyDir string, want map[string][]byte) string {
	t.Helper()
	stages, _ := filepath.Glob(filepath.Join(d.cacheDir(), "sealfs", "*", stage.DirName))
	if len(stages) != 1 {
		return fmt.Sprintf("%d staging areas", len(stages))
	}
	sealed, err := os.ReadFile(filepath.Join(stages[0], "intent"))
	if errors.Is(err, fs.ErrNotExist) {
		return "no intent yet"
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(copyDir, stage.DirName), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copyDir, stage.DirName, "intent"), sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	sd, err := stage.Open(copyDir, keys.Local, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := sd.ReadIntent()
	if err != nil || in == nil {
		t.Fatalf("the staged intent does not open: %v", err)
	}
	sizes := map[string]uint64{}
	for _, f := range in.Files {
		sizes[strings.TrimPrefix(f.Path, "/")] = f.Size
	}
	for name, data := range want {
		if got, ok := sizes[name]; !ok || got != uint64(len(data)) {
			return fmt.Sprintf("the intent has %s at %d bytes (listed: %v), want %d", name, got, ok, len(data))
		}
	}
	for _, id := range in.Objects {
		if _, err := os.Stat(filepath.Join(stages[0], "objects", id.String())); err != nil {
			return fmt.Sprintf("object %s of the intent is not staged: %v", id, err)
		}
	}
	return ""
}
