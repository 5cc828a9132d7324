package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// sharedEstimator builds zxcvbn's dictionaries once for the whole test
// binary: each build takes tens of milliseconds, much more under -race.
var sharedEstimator = sync.OnceValue(zxcvbn.NewEstimator)

// testHints is the context of a vault in the bucket "mybucket", for the
// user "alice" on the computer "alice-laptop".
var testHints = []hint{
	{"mybucket", "the bucket name"},
	{"chat-backups", "a part of the store's address"},
	{"alice", "your user name"},
	{"alice-laptop", "this computer's name"},
	{"sealfs", "the program's name"},
}

func TestWeakPassphrasesRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, pass, found string
	}{
		{"common password", "password", "a common password"},
		{"common digits", "12345678", "a common password"},
		{"common with a digit", "iloveyou1", "a common password"},
		{"look-alike substitutions", "P@ssw0rd!", "a common password with look-alike substitutions"},
		{"backwards", "drowssap", "a common password written backwards"},
		{"keyboard row", "zxcvbnm,./", "a keyboard row"},
		{"keyboard row and more", "poiuytrewqlkjh", "a keyboard row"},
		{"date with dashes", "1987-05-12", "a date"},
		{"date as digits", "19870512", "a date"},
		{"bucket name and a year", "mybucket2026", "the bucket name"},
		{"bucket name and digits", "MyBucket123", "the bucket name"},
		{"store path", "chat-backups1", "a part of the store's address"},
		{"user name", "alice1234", "your user name"},
		{"repeated word", "hello hello hello", "a repeat of the same text"},
		{"repeated password", "passwordpassword", "a repeat of the same text"},
		{"sequence", "abcdefghijk", "a sequence like abc or 123"},
		{"common password and a year", "dragon1987", "a recent year"},
		{"word and a date", "summer2026", "a date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := estimate(sharedEstimator(), []byte(tc.pass), testHints)
			if !st.weak() {
				t.Fatalf("%q: score %d (%.3g guesses) is accepted, want it refused", tc.pass, st.score, st.guesses)
			}
			if !slices.ContainsFunc(st.found, func(f string) bool { return strings.HasPrefix(f, tc.found) }) {
				t.Errorf("%q: found %q, want %q among them", tc.pass, st.found, tc.found)
			}
		})
	}
}

func TestStrongPassphrasesAccepted(t *testing.T) {
	t.Parallel()
	for _, pass := range []string{
		"correct horse battery staple",
		"tamper table passphrase", // the e2e tests' passphrases must pass too
		"keep my history",
		"vN8#qL2$wR5!",
		"mybucket is where my chats sleep at night",
	} {
		st := estimate(sharedEstimator(), []byte(pass), testHints)
		if st.weak() {
			t.Errorf("%q: score %d (%.3g guesses, found %q) is refused, want it accepted", pass, st.score, st.guesses, st.found)
		}
	}
}

func TestGeneratedPassphrases(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 10 {
		p, err := generatePassphrase()
		if err != nil {
			t.Fatal(err)
		}
		words := strings.Fields(string(p))
		if len(words) != generatedWords || strings.Join(words, " ") != string(p) {
			t.Fatalf("generated %q: want %d words separated by single spaces", p, generatedWords)
		}
		if seen[string(p)] {
			t.Fatalf("generated %q twice", p)
		}
		seen[string(p)] = true
		if st := estimate(sharedEstimator(), p, testHints); st.score != 4 {
			t.Errorf("generated %q: score %d (%.3g guesses), want 4", p, st.score, st.guesses)
		}
	}
}

func TestVaultHints(t *testing.T) {
	t.Setenv("USER", "alice")
	for _, tc := range []struct {
		loc  string
		want []hint
	}{
		{"s3://my-bucket/chat_backups/phone", []hint{
			{"my-bucket", "the bucket name"}, {"mybucket", "the bucket name"}, {"bucket", "the bucket name"},
			{"chat_backups", "a part of the store's address"}, {"chatbackups", "a part of the store's address"},
			{"chat", "a part of the store's address"}, {"backups", "a part of the store's address"},
			{"phone", "a part of the store's address"},
		}},
		{"/srv/chat-store", []hint{
			{"srv", "a part of the store's address"}, {"chat-store", "a part of the store's address"},
			{"chatstore", "a part of the store's address"},
		}},
		{"file:///home/alice/Vault", []hint{
			{"home", "a part of the store's address"}, {"alice", "a part of the store's address"},
			{"vault", "a part of the store's address"},
		}},
	} {
		got := vaultHints(tc.loc)
		for _, w := range append(tc.want, hint{"alice", "your user name"}, hint{"sealfs", "the program's name"}) {
			if !containsHint(got, w) {
				t.Errorf("vaultHints(%q) = %q: missing %q", tc.loc, got, w)
			}
		}
	}
}

func containsHint(hs []hint, h hint) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

func TestHumanDuration(t *testing.T) {
	const year = 365.25 * 86400
	for _, tc := range []struct {
		sec  float64
		want string
	}{
		{0, "less than a minute"},
		{59, "less than a minute"},
		{60, "about one minute"},
		{3 * 3600, "about 3 hours"},
		{86400 * 5, "about 5 days"},
		{86400 * 100, "about 3 months"},
		{year * 40, "about 40 years"},
		{year * 4e4, "about 40 thousand years"},
		{year * 3e6, "about 3 million years"},
		{year * 2e9, "about 2 billion years"},
		{year * 2e10, "longer than the age of the universe"},
	} {
		if got := humanDuration(tc.sec); got != tc.want {
			t.Errorf("humanDuration(%g) = %q, want %q", tc.sec, got, tc.want)
		}
	}
}

func TestWeakErrorIsOneLine(t *testing.T) {
	t.Parallel()
	st := estimate(sharedEstimator(), []byte("mybucket2026"), testHints)
	err := weakError(st, crypt.MinKDF)
	if code := exitCode(err); code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	msg := err.Error()
	for _, want := range []string{"too weak", "the bucket name", "guesses", "for one CPU core", "a guess", "--generate-passphrase", "nothing was written"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "mybucket2026") || strings.Contains(msg, "\n") {
		t.Errorf("%q: want one line that does not repeat the passphrase", msg)
	}
}

func TestGuessCostMeasured(t *testing.T) {
	if d := guessCost(crypt.MinKDF); d <= 0 {
		t.Errorf("guessCost = %v, want a measured CPU time", d)
	}
}

// BenchmarkEstimateWithDictionaries is what one unlock or one new
// passphrase pays: the dictionaries built, then one estimate.
func BenchmarkEstimateWithDictionaries(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		estimate(nil, []byte("the passphrase of the benchmark"), testHints)
	}
}

// BenchmarkEstimate is one estimate with the dictionaries built.
func BenchmarkEstimate(b *testing.B) {
	est := sharedEstimator()
	b.ReportAllocs()
	for b.Loop() {
		estimate(est, []byte("the passphrase of the benchmark"), testHints)
	}
}

// TestNewVaultPassphrase: where a new passphrase comes from, and which
// sources refuse to be combined with --generate-passphrase.
func TestNewVaultPassphrase(t *testing.T) {
	s := remote.NewMemory()
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	file := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(file, []byte("qwertyuiop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		env      string // SEALFS_NEW_PASSPHRASE
		file     string
		generate bool
		want     string // in the error; "" for success
	}{
		{"weak from the environment", "12345678", "", false, "passphrase too weak"},
		{"weak from a file", "", file, false, "passphrase too weak"},
		{"strong from the environment", "ample trout under a violet kettle", "", false, ""},
		{"generated", "", "", true, ""},
		{"generated and a file", "", file, true, "--generate-passphrase and --new-passphrase-file"},
		{"generated and the environment", "ample trout under a violet kettle", "", true, "--generate-passphrase and SEALFS_NEW_PASSPHRASE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envNewPassphrase, tc.env)
			p, err := a.newVaultPassphrase(s, crypt.MinKDF, tc.generate, tc.file, "new-passphrase-file", envNewPassphrase)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want a passphrase", err)
			case tc.want == "" && len(p) < minPassphraseLen:
				t.Fatalf("got %q", p)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != exitUsage):
				t.Fatalf("got %v (exit %d), want exit 2 and %q", err, exitCode(err), tc.want)
			}
		})
	}
}
