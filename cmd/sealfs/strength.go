package main

import (
	"fmt"
	"math"
	"os"
	"os/user"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sethvargo/go-diceware/diceware"
	"golang.org/x/crypto/argon2"

	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn"
	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn/match"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// vault.json sits in the bucket, so whoever can read the bucket can try
// passphrases offline, as fast as they can run Argon2id (docs/SECURITY.md
// "Offline guessing of the passphrase"). A new passphrase is estimated
// with zxcvbn, fed the words of this vault's context, and refused below
// minScore.

// minScore is the zxcvbn score a new passphrase needs: 3 means zxcvbn
// expects a guesser to need more than 10^8 guesses.
const minScore = 3

// generatedWords is the length of a generated passphrase: six words of the
// EFF large list (7776 words) are 77 bits.
const generatedWords = 6

// strength is zxcvbn's estimate of one passphrase.
type strength struct {
	guesses float64
	score   int      // 0 to 4
	found   []string // what makes it guessable, for a person, in order
}

func (s strength) weak() bool { return s.score < minScore }

// hint is one word of a vault's context and what it is, for the message.
type hint struct{ word, what string }

// vaultHints are the words a guesser tries first for the vault at loc
// (a store's String): the parts of its address, the user's and the
// computer's names.
func vaultHints(loc string) []hint {
	var hs []hint
	add := func(word, what string) {
		word = strings.ToLower(word)
		if len(word) >= 3 {
			hs = append(hs, hint{word, what})
		}
	}
	rest, isS3 := strings.CutPrefix(loc, "s3://")
	if _, path, ok := strings.Cut(loc, "://"); ok && !isS3 {
		rest = path
	}
	for i, part := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' }) {
		what := "a part of the store's address"
		if i == 0 && isS3 {
			what = "the bucket name"
		}
		add(part, what)
		words := strings.FieldsFunc(part, func(r rune) bool { return strings.ContainsRune("-_. ", r) })
		if len(words) > 1 {
			add(strings.Join(words, ""), what)
			for _, w := range words {
				add(w, what)
			}
		}
	}
	add(userName(), "your user name")
	add(deviceName(), "this computer's name")
	add("sealfs", "the program's name")
	return hs
}

func userName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// estimate rates pass with zxcvbn, which also tries the hints as a
// dictionary of its own. est may be nil (built for this call).
func estimate(est *zxcvbn.Estimator, pass []byte, hints []hint) strength {
	if est == nil {
		est = zxcvbn.NewEstimator()
	}
	words := make([]string, len(hints))
	what := make(map[string]string, len(hints))
	for i, h := range hints {
		words[i] = h.word
		if _, ok := what[h.word]; !ok {
			what[h.word] = h.what
		}
	}
	r := est.PasswordStrength(string(pass), words)
	st := strength{guesses: r.Guesses, score: r.Score}
	for _, m := range r.Sequence {
		if f := describe(m, what); f != "" && !slices.Contains(st.found, f) {
			st.found = append(st.found, f)
		}
	}
	if len(st.found) == 0 {
		st.found = []string{"too few characters"}
	}
	return st
}

// describe names the pattern of one zxcvbn match, "" for random characters.
func describe(m *match.Match, hints map[string]string) string {
	var s string
	switch m.Pattern {
	case "dictionary":
		switch m.DictionaryName {
		case "passwords":
			s = "a common password"
		case "user_inputs":
			s = hints[m.MatchedWord]
		case "female_names", "male_names", "surnames":
			s = "a common name"
		default:
			s = "common words"
		}
		if m.Reversed {
			s += " written backwards"
		}
		if m.L33t {
			s += " with look-alike substitutions (like 0 for o)"
		}
	case "spatial":
		switch {
		case strings.Contains(m.Graph, "keypad"):
			s = "a keypad pattern"
		case m.Turns <= 1:
			s = "a keyboard row"
		default:
			s = "a keyboard pattern"
		}
	case "repeat":
		s = "a repeat of the same text"
	case "sequence":
		s = "a sequence like abc or 123"
	case "regex":
		s = "a recent year"
	case "date":
		s = "a date"
	}
	return s
}

// guessCost measures one Argon2id derivation at p's time and memory: the
// CPU time it takes, which is what one guess at this vault costs a
// guesser's core however busy this machine is. Threads only spread the
// same work over several cores, so the measurement uses one.
func guessCost(p crypt.KDFParams) time.Duration {
	// The unlock's Argon2id memory is garbage by now: collect it so that
	// this derivation reuses it instead of doubling the peak (info).
	runtime.GC()
	salt := make([]byte, 32)
	start := cpuTime()
	argon2.IDKey([]byte("a guess"), salt, p.Time, p.MemoryMiB*1024, 1, crypt.KeySize)
	return cpuTime() - start
}

// cpuTime is the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// weakError is the refusal of a new passphrase: what was found and what
// guessing it would cost at kdf, measured now.
func weakError(st strength, kdf crypt.KDFParams) error {
	cost := guessCost(kdf)
	return withCode(exitUsage,
		fmt.Errorf("passphrase too weak: it is built from %s; whoever can read the bucket can guess offline and would find it within about %s guesses: %s for one CPU core at this vault's Argon2id setting (%s a guess)",
			joinAnd(st.found), humanCount(st.guesses), humanDuration(st.guesses*cost.Seconds()), roundCost(cost)),
		"nothing was written: use --generate-passphrase for a strong one, or five or more random words")
}

// checkNewPassphrase refuses a new passphrase for the vault in s that
// zxcvbn rates below minScore.
func checkNewPassphrase(s remote.Store, pass []byte, kdf crypt.KDFParams) error {
	if st := estimate(nil, pass, vaultHints(s.String())); st.weak() {
		return weakError(st, kdf)
	}
	return nil
}

// newVaultPassphrase returns the passphrase being set on the vault in s:
// generated (generate), or read by newPassphrase from file (--flag), the
// environment variable env or a prompt, and refused if weak.
func (a *app) newVaultPassphrase(s remote.Store, kdf crypt.KDFParams, generate bool, file, flag, env string) ([]byte, error) {
	if err := oneNewPassphrase(generate, file, flag, env); err != nil {
		return nil, err
	}
	if generate {
		return generatePassphrase() // 77 random bits need no estimate
	}
	pass, err := a.newPassphrase(file, flag, env)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassphrase(s, pass, kdf); err != nil {
		clear(pass)
		return nil, err
	}
	return pass, nil
}

// oneNewPassphrase refuses --generate-passphrase with another source of the
// new passphrase (--flag file, or the environment variable env).
func oneNewPassphrase(generate bool, file, flag, env string) error {
	switch {
	case !generate:
		return nil
	case file != "":
		return usageErr("--generate-passphrase and --%s both give the new passphrase: use one", flag)
	case os.Getenv(env) != "":
		return withCode(exitUsage, fmt.Errorf("--generate-passphrase and %s both give the new passphrase", env),
			"unset "+env+" or drop --generate-passphrase")
	}
	return nil
}

// generatePassphrase returns generatedWords random words of the EFF large
// word list (crypto/rand), separated by spaces.
func generatePassphrase() ([]byte, error) {
	words, err := diceware.Generate(generatedWords)
	if err != nil {
		return nil, fmt.Errorf("generating a passphrase: %w", err)
	}
	var b []byte
	for i, w := range words {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, w...)
	}
	return b, nil
}

// printGenerated shows a generated passphrase, the only time it is shown.
func (a *app) printGenerated(pass []byte) {
	fmt.Fprintf(a.stdout, `PASSPHRASE - generated for you (%d random words). Store it in your password
manager now: it is shown only this once and saved nowhere.

    %s

`, generatedWords, pass)
}

// warnIfWeak starts estimating the passphrase that is unlocking the vault
// in s, alongside the unlock's Argon2id; the returned func waits for the
// estimate and prints one warning line if the passphrase is weak. Such a
// vault still opens: the warning only suggests 'sealfs passwd'.
func (a *app) warnIfWeak(s remote.Store, pass []byte) (wait func()) {
	if len(pass) == 0 {
		return func() {}
	}
	hints := vaultHints(s.String())
	p := []byte(string(pass)) // the caller clears pass when Argon2id is done
	done := make(chan strength, 1)
	go func() {
		done <- estimate(nil, p, hints)
		clear(p)
	}()
	return func() {
		if st := <-done; st.weak() {
			a.notice(fmt.Sprintf("warning: this vault's passphrase is weak (it is built from %s): anyone who can read the bucket can guess it offline; set a strong one with 'sealfs passwd --generate-passphrase %s'",
				joinAnd(st.found), s))
		}
	}
}

func joinAnd(list []string) string {
	switch len(list) {
	case 0:
		return ""
	case 1:
		return list[0]
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}

// humanCount writes a number of guesses for a person: "3", "740 thousand",
// "12 million", "10^15".
func humanCount(n float64) string {
	switch {
	case n < 1e3:
		return fmt.Sprintf("%.0f", n)
	case n < 1e6:
		return fmt.Sprintf("%.0f thousand", n/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.0f million", n/1e6)
	case n < 1e12:
		return fmt.Sprintf("%.0f billion", n/1e9)
	}
	return fmt.Sprintf("10^%.0f", math.Floor(math.Log10(n)))
}

// ageOfUniverse is 13.8 billion years, in seconds.
const ageOfUniverse = 13.8e9 * 365.25 * 86400

// humanDuration writes seconds of work for a person: "less than a minute",
// "about 3 hours", "about 40 thousand years", "longer than the age of the
// universe".
func humanDuration(sec float64) string {
	const (
		minute = 60.0
		hour   = 60 * minute
		day    = 24 * hour
		month  = 30.44 * day
		year   = 365.25 * day
	)
	steps := []struct {
		below, unit float64
		name        string
	}{
		{hour, minute, "minute"},
		{day, hour, "hour"},
		{2 * month, day, "day"},
		{2 * year, month, "month"},
		{1e3 * year, year, "year"},
		{1e6 * year, 1e3 * year, "thousand years"},
		{1e9 * year, 1e6 * year, "million years"},
		{ageOfUniverse, 1e9 * year, "billion years"},
	}
	if sec < minute {
		return "less than a minute"
	}
	for _, s := range steps {
		if sec < s.below {
			n := math.Round(sec / s.unit)
			if strings.HasSuffix(s.name, "years") {
				return fmt.Sprintf("about %.0f %s", n, s.name)
			}
			if n == 1 {
				return "about one " + s.name
			}
			return fmt.Sprintf("about %.0f %ss", n, s.name)
		}
	}
	return "longer than the age of the universe"
}

// roundCost writes the cost of one guess to two significant digits.
func roundCost(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// guessCostLine is info's line on what one passphrase guess costs.
func guessCostLine(kdf crypt.KDFParams) string {
	return fmt.Sprintf("%s of one CPU core per passphrase guess (measured now); a guesser with a copy of the bucket pays this for every try", roundCost(guessCost(kdf)))
}
