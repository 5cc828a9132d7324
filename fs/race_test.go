//go:build race

package fs

// raceEnabled: the race detector slows every test down several times;
// size-driven tests use smaller sizes under it.
const raceEnabled = true
