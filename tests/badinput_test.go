package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/s3test"
)

// expectFail runs sealfs and checks the exit code and that stderr is one
// "sealfs: error:" line containing every wanted fragment.
func expectFail(t *testing.T, d *device, env []string, code int, want []string, args ...string) {
	t.Helper()
	r := d.run(env, args...)
	if r.code != code {
		t.Fatalf("sealfs %s: want exit %d, got %s", strings.Join(args, " "), code, r)
	}
	msg := strings.TrimSpace(r.stderr)
	if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "sealfs: error: ") {
		t.Errorf("want one 'sealfs: error:' line, got %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

func TestBadInputVault(t *testing.T) {
	t.Parallel()
	st := dirStore(t)
	d := newDevice(t, "dev", nil)
	pass := []string{"SEALFS_PASSPHRASE=the right passphrase"}
	out := d.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)
	rk := parseRecoveryKey(t, out.stdout)
	vault, err := os.ReadFile(filepath.Join(st.location, "vault.json"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wrong passphrase", func(t *testing.T) {
		expectFail(t, d, []string{"SEALFS_PASSPHRASE=the wrong passphrase"}, 10,
			[]string{"wrong passphrase", "--recovery-key-file"}, "info", st.location)
	})
	t.Run("wrong recovery key", func(t *testing.T) {
		wrong := strings.Repeat("0123 ", 15) + "4567"
		expectFail(t, d, []string{"SEALFS_RECOVERY_KEY=" + wrong}, 10, []string{"wrong recovery key"}, "info", st.location)
	})
	t.Run("malformed recovery key", func(t *testing.T) {
		expectFail(t, d, []string{"SEALFS_RECOVERY_KEY=1234"}, 10, []string{"recovery key", "64 hex digits"}, "info", st.location)
	})
	t.Run("recovery key opens", func(t *testing.T) {
		d.ok([]string{"SEALFS_RECOVERY_KEY=" + strings.ToUpper(strings.ReplaceAll(rk, " ", "-"))}, "info", st.location)
	})
	t.Run("store without vault", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty")
		expectFail(t, d, pass, 1, []string{"no sealfs vault", "sealfs init"}, "info", empty)
		if err := os.Mkdir(empty, 0o700); err != nil {
			t.Fatal(err)
		}
		expectFail(t, d, pass, 1, []string{"no sealfs vault", "sealfs init"}, "info", empty)
	})
	t.Run("mistyped store path", func(t *testing.T) {
		typo := filepath.Join(t.TempDir(), "no", "such", "store")
		expectFail(t, d, pass, 1, []string{"no sealfs vault", "does not exist", "sealfs init"}, "info", typo)
		if _, err := os.Stat(filepath.Dir(filepath.Dir(typo))); !os.IsNotExist(err) {
			t.Errorf("a command on a mistyped store path created directories (stat: %v)", err)
		}
	})
	t.Run("init over an existing vault", func(t *testing.T) {
		expectFail(t, d, []string{"SEALFS_PASSPHRASE=another passphrase"}, 1,
			[]string{"already exists", "refusing to overwrite"}, append(append([]string{"init"}, fastKDF...), st.location)...)
		after, err := os.ReadFile(filepath.Join(st.location, "vault.json"))
		if err != nil || string(after) != string(vault) {
			t.Fatalf("init changed the existing vault (err %v)", err)
		}
		d.ok(pass, "info", st.location)
	})
	t.Run("passphrase file unreadable", func(t *testing.T) {
		expectFail(t, d, nil, 1, []string{"passphrase file"}, "--passphrase-file", "/nonexistent/pass", "info", st.location)
	})
	t.Run("weak kdf refused", func(t *testing.T) {
		expectFail(t, d, pass, 2, []string{"minimum"}, "init", "--kdf-memory", "8", filepath.Join(t.TempDir(), "s"))
	})
	t.Run("short passphrase refused", func(t *testing.T) {
		expectFail(t, d, []string{"SEALFS_PASSPHRASE=short"}, 2, []string{"too short"},
			append(append([]string{"init"}, fastKDF...), filepath.Join(t.TempDir(), "s"))...)
	})
	t.Run("unknown scheme", func(t *testing.T) {
		expectFail(t, d, pass, 1, []string{"s3://"}, "info", "ftp://example.com/x")
	})
	t.Run("no passphrase and no terminal", func(t *testing.T) {
		expectFail(t, d, nil, 2, []string{"SEALFS_PASSPHRASE"}, "info", st.location)
	})
}

func TestBadInputMountpoint(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	st := dirStore(t)
	d := newDevice(t, "dev", nil)
	pass := []string{"SEALFS_PASSPHRASE=the right passphrase"}
	d.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)

	t.Run("missing", func(t *testing.T) {
		expectFail(t, d, pass, 1, []string{"does not exist", "mkdir"}, "mount", st.location, filepath.Join(t.TempDir(), "nope"))
	})
	t.Run("not empty", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
		expectFail(t, d, pass, 1, []string{"not empty"}, "mount", st.location, dir)
	})
	t.Run("already mounted", func(t *testing.T) {
		mnt := d.mount(pass, st.location)
		expectFail(t, d, pass, 1, []string{"already a mount point"}, "mount", st.location, mnt)
		d.ok(nil, "umount", mnt)
	})
	t.Run("umount of a plain directory", func(t *testing.T) {
		expectFail(t, d, nil, 1, []string{"not mounted"}, "umount", t.TempDir())
	})
	t.Run("umount of another file system", func(t *testing.T) {
		expectFail(t, d, nil, 1, []string{"not a sealfs mount"}, "umount", "/proc")
	})
	t.Run("usage", func(t *testing.T) {
		expectFail(t, d, nil, 2, []string{"MOUNTPOINT"}, "mount", st.location)
	})
}

func TestBadInputS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	creds := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		"AWS_ENDPOINT_URL": srv.Endpoint, "AWS_REGION": "us-east-1"}
	pass := []string{"SEALFS_PASSPHRASE=the right passphrase"}

	t.Run("missing bucket", func(t *testing.T) {
		d := newDevice(t, "dev", creds)
		expectFail(t, d, pass, 1, []string{"no-such-bucket-x", "does not exist"}, "info", "s3://no-such-bucket-x/p")
	})
	t.Run("wrong credentials", func(t *testing.T) {
		bad := map[string]string{}
		for k, v := range creds {
			bad[k] = v
		}
		bad["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
		d := newDevice(t, "dev", bad)
		expectFail(t, d, pass, 1, []string{"credentials"}, "info", "s3://"+bucket+"/p")
	})
	t.Run("endpoint down", func(t *testing.T) {
		down := map[string]string{}
		for k, v := range creds {
			down[k] = v
		}
		down["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"
		d := newDevice(t, "dev", down)
		start := time.Now()
		expectFail(t, d, pass, 1, []string{"127.0.0.1:1"}, "info", "s3://"+bucket+"/p")
		if el := time.Since(start); el > 60*time.Second {
			t.Errorf("an unreachable endpoint took %s to report", el)
		}
	})
	t.Run("plain http to a remote host", func(t *testing.T) {
		d := newDevice(t, "dev", creds)
		expectFail(t, d, pass, 1, []string{"http", "--s3-insecure"}, "--s3-endpoint", "http://s3.example.com", "info", "s3://"+bucket+"/p")
	})
}
