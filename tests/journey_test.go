package tests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// storeSetup is a store both devices can reach, and how the test itself
// reads it raw for the plaintext scan.
type storeSetup struct {
	location string
	env      map[string]string
	open     func(t *testing.T) remote.Store
}

func s3Store(t *testing.T) storeSetup { return s3StoreOn(t, s3test.Server(t)) }

// s3StoreOn is a fresh bucket on srv: the test server, or the view of it
// through a proxy.
func s3StoreOn(t *testing.T, srv *s3test.S3Server) storeSetup {
	bucket := s3test.NewBucket(t)
	loc := "s3://" + bucket + "/chat-backups"
	env := map[string]string{
		"AWS_ACCESS_KEY_ID":     srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		"AWS_ENDPOINT_URL":      srv.Endpoint,
		"AWS_REGION":            "us-east-1",
	}
	return storeSetup{location: loc, env: env, open: func(t *testing.T) remote.Store {
		s, err := remote.Open(context.Background(), loc, remote.Options{
			Endpoint: srv.Endpoint, AccessKeyID: srv.AccessKey, SecretAccessKey: remote.Secret(srv.SecretKey),
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

func dirStore(t *testing.T) storeSetup {
	loc := filepath.Join(t.TempDir(), "store")
	return storeSetup{location: loc, env: map[string]string{}, open: func(t *testing.T) remote.Store {
		s, err := remote.Open(context.Background(), loc, remote.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

// fastKDF keeps the tests quick: the enforced minimum.
var fastKDF = []string{"--kdf-memory", "64", "--kdf-time", "2", "--kdf-threads", "1"}

var recoveryKeyRE = regexp.MustCompile(`(?m)^\s+((?:[0-9a-f]{4}[ -]?){16})\s*$`)

// parseRecoveryKey finds the recovery key in init's output.
func parseRecoveryKey(t *testing.T, out string) string {
	t.Helper()
	m := recoveryKeyRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("init printed no recovery key:\n%s", out)
	}
	return strings.TrimSpace(m[1])
}

func TestJourneyS3(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	journey(t, s3Store(t), 200)
}

func TestJourneyDirectory(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	journey(t, dirStore(t), 200)
}

// journey is the product's main promise: device A backs up, device B (which
// shares nothing with A but the store) restores every byte with the
// recovery key, then with a new passphrase set through the recovery key.
func journey(t *testing.T, st storeSetup, mediaFiles int) {
	const pass = "correct horse battery staple"
	a := newDevice(t, "device A", st.env)
	withPass := []string{"SEALFS_PASSPHRASE=" + pass}

	out := a.ok(withPass, append(append([]string{"init"}, fastKDF...), st.location)...)
	rk := parseRecoveryKey(t, out.stdout)

	mntA := a.mount(withPass, st.location, "--device", "phone-a")
	b := newBackup(t, mntA, 1)
	b.writeChatBackup(mediaFiles)
	want := scanTree(t, mntA)
	a.ok(nil, "umount", mntA)
	if isMounted(mntA) {
		t.Fatal("umount returned but the mount is still there")
	}

	dev := newDevice(t, "device B", st.env)
	mntB := dev.mount([]string{"SEALFS_RECOVERY_KEY=" + rk}, st.location, "--device", "laptop-b")
	compareTrees(t, "device B with the recovery key", want, scanTree(t, mntB))
	dev.ok(nil, "umount", mntB)

	const newPass = "a new passphrase for the new laptop"
	dev.ok([]string{"SEALFS_RECOVERY_KEY=" + rk, "SEALFS_NEW_PASSPHRASE=" + newPass}, "passwd", st.location)
	if r := dev.run(withPass, "info", st.location); r.code != 10 {
		t.Fatalf("the old passphrase still opens the vault after passwd: %s", r)
	}
	mntB = dev.mount([]string{"SEALFS_PASSPHRASE=" + newPass}, st.location)
	compareTrees(t, "device B with the new passphrase", want, scanTree(t, mntB))
	dev.ok(nil, "umount", mntB)

	store := st.open(t)
	defer store.Close()
	dirs := []string{a.home, dev.home, "/run/sealfs"}
	if !strings.HasPrefix(st.location, "s3://") {
		dirs = append(dirs, st.location) // the directory store is the bucket
	}
	assertNoPlaintext(t, b.markers, dirs, store)
	if _, err := os.Stat(filepath.Join(mntA, "Databases")); err == nil {
		t.Fatal("device A's mountpoint still shows the files after umount")
	}
}
