package zxcvbn

import (
	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn/match"
	"time"
	"unicode/utf8"

	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn/matching"
	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn/scoring"
)

type Result struct {
	Guesses  float64
	Sequence []*match.Match
	Score    int
	CalcTime float64
}

// PasswordStrength is (*Estimator).PasswordStrength with dictionaries
// built for this call.
func PasswordStrength(password string, userInputs []string) Result {
	return NewEstimator().PasswordStrength(password, userInputs)
}

// Estimator holds the dictionaries for several estimates. Safe for
// concurrent use.
//
// sealfs patch: upstream has only PasswordStrength, with the dictionaries
// built when the program starts (see matching.Dictionaries).
type Estimator struct{ dicts *matching.Dictionaries }

// NewEstimator builds the dictionaries.
func NewEstimator() *Estimator {
	return &Estimator{dicts: matching.NewDictionaries()}
}

func (e *Estimator) PasswordStrength(password string, userInputs []string) Result {
	start := time.Now()
	var result Result
	if !utf8.ValidString(password) {
		// Do not evaluate passwords containing invalid utf8
		// => those will be reported as weak passwords
		return result
	}
	matches := e.dicts.Omnimatch(password, userInputs)
	seq := scoring.MostGuessableMatchSequence(password, matches, false)
	end := time.Now()
	calcTime := end.Nanosecond() - start.Nanosecond()
	result.CalcTime = round(float64(calcTime)*time.Nanosecond.Seconds(), .5, 3)
	result.Sequence = seq.Sequence
	result.Guesses = seq.Guesses
	result.Score = guessesToScore(seq.Guesses)
	return result
}
