package matching

import (
	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn/adjacency"
	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn/frequency"
	"github.com/sealfs/sealfs/cmd/sealfs/internal/zxcvbn/match"
	"regexp"
)

// Dictionaries are the ranked word lists (about 10 MB, tens of
// milliseconds to build). Safe for concurrent use.
//
// sealfs patch: upstream builds them in a package variable when the program
// starts, which every process linking this package pays for, used or not;
// here the caller builds them when it needs them and the garbage collector
// frees them once it drops them.
type Dictionaries struct{ dm dictionaryMatch }

// NewDictionaries builds the ranked word lists.
func NewDictionaries() *Dictionaries {
	return &Dictionaries{dm: loadDefaultDictionnaries()}
}

// Omnimatch is (*Dictionaries).Omnimatch with dictionaries built for this
// call.
func Omnimatch(password string, userInputs []string) (matches []*match.Match) {
	return NewDictionaries().Omnimatch(password, userInputs)
}

func (d *Dictionaries) Omnimatch(password string, userInputs []string) (matches []*match.Match) {
	dictMatcher := d.dm.withDict("user_inputs", buildRankedDict(userInputs))

	matchers := []match.Matcher{
		dictMatcher,
		reverseDictionnaryMatch{dm: dictMatcher},
		l33tMatch{dm: dictMatcher, table: l33tTable},
		spatialMatch{graphs: defaultGraphs},
		repeatMatch{dicts: d},
		sequenceMatch{},
		regexpMatch{regexes: defaultRegexpMatch},
		dateMatch{},
	}

	for _, m := range matchers {
		matches = append(matches, m.Matches(password)...)
	}
	match.Sort(matches)
	return matches
}

var (
	defaultGraphs      = loadDefaultAdjacencyGraphs()
	defaultRegexpMatch = []struct {
		Name   string
		Regexp *regexp.Regexp
	}{
		{
			Name:   "recent_year",
			Regexp: regexp.MustCompile(`19\d\d|200\d|201\d`),
		},
	}
	l33tTable = map[string][]string{
		"a": {"4", "@"},
		"b": {"8"},
		"c": {"(", "{", "[", "<"},
		"e": {"3"},
		"g": {"6", "9"},
		"i": {"1", "!", "|"},
		"l": {"1", "|", "7"},
		"o": {"0"},
		"s": {"$", "5"},
		"t": {"+", "7"},
		"x": {"%"},
		"z": {"2"},
	}
)

func loadDefaultDictionnaries() dictionaryMatch {
	rd := make(map[string]rankedDictionnary)
	for n, list := range frequency.FrequencyLists() {
		rd[n] = buildRankedDict(list)
	}
	return dictionaryMatch{
		rankedDictionaries: rd,
	}
}

func loadDefaultAdjacencyGraphs() []*adjacency.Graph {
	return []*adjacency.Graph{
		adjacency.Graphs["qwerty"],
		adjacency.Graphs["dvorak"],
		adjacency.Graphs["keypad"],
		adjacency.Graphs["mac_keypad"],
	}

}
