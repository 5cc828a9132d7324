package tests

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/vault"
)

// bucketOf is the bucket name in an s3:// location.
func bucketOf(loc string) string {
	b, _, _ := strings.Cut(strings.TrimPrefix(loc, "s3://"), "/")
	return b
}

// TestWeakPassphraseRefused: init and passwd refuse, with exit 2 and one
// line naming what was found, a passphrase an offline guesser finds soon,
// whichever way it comes in, and write nothing.
func TestWeakPassphraseRefused(t *testing.T) {
	t.Parallel()
	st := s3Store(t)
	d := newDevice(t, "dev", st.env)
	s := st.open(t)
	defer s.Close()
	bucket := bucketOf(st.location)
	t.Run("init", func(t *testing.T) { refuseWeakInits(t, d, st.location) })
	if keys := storeObjects(t, s); len(keys) != 0 {
		t.Fatalf("refused inits wrote to the bucket: %q", keys)
	}

	// passwd refuses a weak new passphrase and leaves vault.json as it was.
	const strong = "ample trout under a violet kettle"
	d.ok([]string{"SEALFS_PASSPHRASE=" + strong}, append(append([]string{"init"}, fastKDF...), st.location)...)
	before, _, err := s.Get(context.Background(), layout.Vault)
	if err != nil {
		t.Fatal(err)
	}
	expectFail(t, d, []string{"SEALFS_PASSPHRASE=" + strong, "SEALFS_NEW_PASSPHRASE=" + bucket + "123"}, 2,
		[]string{"passphrase too weak", "the bucket name"}, "passwd", st.location)
	after, _, err := s.Get(context.Background(), layout.Vault)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a refused passwd rewrote vault.json")
	}
	d.ok([]string{"SEALFS_PASSPHRASE=" + strong}, "info", st.location)
}

// refuseWeakInits runs init on loc with weak passphrases, each refused.
func refuseWeakInits(t *testing.T, d *device, loc string) {
	for _, tc := range []struct {
		name, pass, found string
	}{
		{"common password", "password", "a common password"},
		{"common digits", "12345678", "a common password"},
		{"keyboard row", "qwertyuiop", "a common password"}, // zxcvbn knows it as a password first
		{"keyboard row not in the lists", "zxcvbnm,./", "a keyboard row"},
		{"date", "1987-05-12", "a date"},
		{"bucket name and digits", bucketOf(loc) + "2026", "the bucket name"},
		{"store path and digits", "chat-backups1", "a part of the store's address"},
		{"repeated words", "hello hello hello", "a repeat of the same text"},
		{"look-alike password", "P@ssw0rd!", "a common password with look-alike substitutions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expectFail(t, d, []string{"SEALFS_PASSPHRASE=" + tc.pass}, 2,
				[]string{"passphrase too weak", tc.found, "guesses", "for one CPU core", "--generate-passphrase", "nothing was written"},
				append(append([]string{"init"}, fastKDF...), loc)...)
		})
	}
	t.Run("passphrase file", func(t *testing.T) {
		t.Parallel()
		f := filepath.Join(t.TempDir(), "pass")
		if err := os.WriteFile(f, []byte("iloveyou1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		expectFail(t, d, nil, 2, []string{"passphrase too weak", "a common password"},
			append(append([]string{"--passphrase-file", f, "init"}, fastKDF...), loc)...)
	})
	t.Run("mount --init", func(t *testing.T) {
		t.Parallel()
		requireFUSE(t)
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		expectFail(t, d, []string{"SEALFS_PASSPHRASE=letmein2026"}, 2, []string{"passphrase too weak"},
			append(append([]string{"mount", "--init", "--daemon"}, fastKDF...), loc, mnt)...)
	})
}

var generatedRE = regexp.MustCompile(`(?m)^PASSPHRASE .*\n.*\n\n    (\S.*)\n`)

// parseGenerated finds the generated passphrase in init's or passwd's output.
func parseGenerated(t *testing.T, out string) string {
	t.Helper()
	m := generatedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no generated passphrase in:\n%s", out)
	}
	return m[1]
}

// TestGeneratedPassphrase: init --generate-passphrase prints a new
// passphrase each time, once, that mounts the vault it made; passwd
// --generate-passphrase replaces it; neither is written anywhere.
func TestGeneratedPassphrase(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	st, other := s3Store(t), s3Store(t)
	d := newDevice(t, "dev", st.env)
	out := d.ok(nil, append(append([]string{"init", "--generate-passphrase"}, fastKDF...), st.location)...)
	pass := parseGenerated(t, out.stdout)
	if n := len(strings.Fields(pass)); n != 6 {
		t.Errorf("generated %q: want 6 words", pass)
	}
	if strings.Count(out.stdout, pass) != 1 || out.stderr != "" {
		t.Errorf("want the passphrase shown once on stdout and nothing on stderr, got %s", out)
	}
	otherPass := parseGenerated(t, d.ok(nil, append(append([]string{"init", "--generate-passphrase"}, fastKDF...), other.location)...).stdout)
	if otherPass == pass {
		t.Fatalf("two inits generated the same passphrase %q", pass)
	}

	mnt := d.mount([]string{"SEALFS_PASSPHRASE=" + pass}, st.location)
	if err := os.WriteFile(filepath.Join(mnt, "note.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.ok(nil, "umount", mnt)

	// A script captures the new one from passwd's stdout.
	out = d.ok([]string{"SEALFS_PASSPHRASE=" + pass}, "passwd", "--generate-passphrase", st.location)
	newPass := parseGenerated(t, out.stdout)
	if newPass == pass {
		t.Fatal("passwd generated the old passphrase again")
	}
	expectFail(t, d, []string{"SEALFS_PASSPHRASE=" + pass}, 10, []string{"wrong passphrase"}, "info", st.location)
	d.ok([]string{"SEALFS_PASSPHRASE=" + newPass}, "check", st.location)

	// --generate-passphrase with a passphrase given as well is ambiguous.
	expectFail(t, d, []string{"SEALFS_PASSPHRASE=" + newPass, "SEALFS_NEW_PASSPHRASE=" + pass}, 2,
		[]string{"--generate-passphrase", "SEALFS_NEW_PASSPHRASE"}, "passwd", "--generate-passphrase", st.location)

	// Nothing on this device or in the bucket holds either passphrase.
	s := st.open(t)
	defer s.Close()
	for key := range storeObjects(t, s) {
		b, _, err := s.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(pass)) || bytes.Contains(b, []byte(newPass)) {
			t.Errorf("object %s holds a generated passphrase", key)
		}
	}
	filepath.WalkDir(d.home, func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && (bytes.Contains(b, []byte(pass)) || bytes.Contains(b, []byte(newPass))) {
			t.Errorf("%s holds a generated passphrase", p)
		}
		return nil
	})
}

// TestWeakPassphraseStillOpens: a vault made before the check (here with
// the library) keeps opening with its weak passphrase, and every command
// that unlocks it with that passphrase prints one warning suggesting
// passwd; the recovery key does not warn.
func TestWeakPassphraseStillOpens(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	st := s3Store(t)
	s := st.open(t)
	defer s.Close()
	const weak = "letmein2026"
	_, rk, err := vault.Create(context.Background(), s, vault.CreateOptions{
		Suite: crypt.SuiteAES256GCM, KDF: crypt.MinKDF, Passphrase: []byte(weak), Device: "old sealfs",
	})
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, "dev", st.env)
	withWeak := []string{"SEALFS_PASSPHRASE=" + weak}
	wantWarning := func(r result) {
		t.Helper()
		msg := strings.TrimSpace(r.stderr)
		if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "sealfs: warning: this vault's passphrase is weak") ||
			!strings.Contains(msg, "sealfs passwd") || strings.Contains(msg, weak) {
			t.Errorf("want one warning line suggesting sealfs passwd, without the passphrase; got %q", msg)
		}
	}
	out := d.ok(withWeak, "info", st.location)
	wantWarning(out)
	if !strings.Contains(out.stdout, "Guess cost:") || !strings.Contains(out.stdout, "of one CPU core per passphrase guess") {
		t.Errorf("info does not show the cost of a guess:\n%s", out.stdout)
	}
	wantWarning(d.ok(withWeak, "check", st.location))

	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	r := d.ok(withWeak, "mount", "--daemon", st.location, mnt)
	t.Cleanup(func() {
		if isMounted(mnt) {
			d.run(nil, "umount", mnt)
		}
	})
	wantWarning(r)
	d.ok(nil, "umount", mnt)

	if r := d.ok([]string{"SEALFS_RECOVERY_KEY=" + rk.Display()}, "info", st.location); r.stderr != "" {
		t.Errorf("unlocking with the recovery key warned: %q", r.stderr)
	}
	// The fix the warning suggests works.
	out = d.ok([]string{"SEALFS_RECOVERY_KEY=" + rk.Display()}, "passwd", "--generate-passphrase", st.location)
	if r := d.ok([]string{"SEALFS_PASSPHRASE=" + parseGenerated(t, out.stdout)}, "info", st.location); r.stderr != "" {
		t.Errorf("the new passphrase still warns: %q", r.stderr)
	}
}
