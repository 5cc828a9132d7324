#!/usr/bin/env bash
# fuzz.sh: fuzz every fuzz target of the module (every func FuzzXxx in a
# _test.go file) for FUZZTIME each, one after another.
#
#   tests/fuzz.sh [FUZZTIME]        # default 3s; e.g. 30s, 10m, 5000x
#
# CI does not fuzz: plain 'go test' runs each target's seed inputs, and
# TestFuzzSeeds checks that every target has at least one. A failing input
# is kept under its package's testdata/fuzz/FuzzXxx/ (commit it with the
# fix: plain 'go test' then runs it for ever); the script exits 1 and
# prints the go tool's output. Each package is rebuilt with coverage
# instrumentation once per target, so expect ~10 s per target on top of
# FUZZTIME.
set -euo pipefail
fuzztime="${1:-3s}"
case "$fuzztime" in
-h|-help|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
cd "$(dirname "$0")"
SEALFS_FUZZTIME="$fuzztime" exec go test -tags fuzzlong -run '^TestFuzzTargets$' -count 1 -timeout 0 -v .
