#!/usr/bin/env bash
# flaky.sh: run chosen tests of one package many times, optionally with a
# rebuild loop beside them, and report every failure with its output.
#
#   tests/flaky.sh [-n RUNS] [-load] [-race=false] PACKAGE [TEST_REGEX]
#
#   tests/flaky.sh -n 100 -load ./fs 'TestPackWaitersDoNotStallWriters|TestPackedColdReadFetchesAhead'
#   tests/flaky.sh -n 5 -load ./tests          # the whole package, 5 times
#
# The package's test binary is built once (with -race unless -race=false)
# and run RUNS times in a row from the package directory, with
# SEALFS_STRICT=1 as in CI. With -load a loop of full rebuilds
# (go build -a ./...) runs beside it for the whole time: that is the load
# that reproduced this project's timing bugs (plain busy loops mostly do
# not). Each failing run's output is kept under the printed directory and
# its failing tests are listed; the exit status is 1 if any run failed.
set -euo pipefail

runs=20 load=0 race=1
while [[ $# -gt 0 ]]; do
	case "$1" in
	-n) runs="$2"; shift 2 ;;
	-n=*) runs="${1#-n=}"; shift ;;
	-load) load=1; shift ;;
	-race=false) race=0; shift ;;
	-h|-help|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "flaky.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
if [[ $# -lt 1 || $# -gt 2 ]]; then
	echo "usage: tests/flaky.sh [-n RUNS] [-load] [-race=false] PACKAGE [TEST_REGEX]" >&2
	exit 2
fi
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "flaky.sh: -n wants a positive number, not $runs" >&2; exit 2; }
pkg="$1" regex="${2:-.}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
pkgdir="$(go list -f '{{.Dir}}' "$pkg")"
out="$(mktemp -d "${TMPDIR:-/tmp}/sealfs-flaky-XXXXXX")"
bin="$out/pkg.test"

raceflag=()
[[ $race == 1 ]] && raceflag=(-race)
echo "building $pkg test binary ${raceflag[*]} into $out"
go test "${raceflag[@]}" -c -o "$bin" "$pkg"

loadpid=""
stop_load() {
	if [[ -n "$loadpid" ]]; then
		kill -- -"$loadpid" 2>/dev/null || kill "$loadpid" 2>/dev/null || true
		wait "$loadpid" 2>/dev/null || true
		loadpid=""
	fi
}
trap stop_load EXIT
if [[ $load == 1 ]]; then
	# A rebuild loop in its own process group, with its own build cache so
	# that -a really compiles everything each round.
	loadcache="$out/gocache"
	set -m
	( while true; do GOCACHE="$loadcache" go build -a -o /dev/null ./... >/dev/null 2>&1 || true; done ) &
	loadpid=$!
	set +m
	echo "rebuild loop running beside the tests (pid $loadpid)"
fi

fails=0
start=$SECONDS
for i in $(seq 1 "$runs"); do
	log="$out/run-$i.log"
	t0=$SECONDS
	if (cd "$pkgdir" && SEALFS_STRICT=1 "$bin" -test.run "$regex" -test.count 1 -test.timeout 60m -test.v >"$log" 2>&1); then
		printf 'run %d/%d ok (%ds)\n' "$i" "$runs" "$((SECONDS - t0))"
		rm -f "$log"
	else
		fails=$((fails + 1))
		printf 'run %d/%d FAILED (%ds): %s\n' "$i" "$runs" "$((SECONDS - t0))" "$log"
		grep -E '^\s*--- FAIL|^panic:|^FAIL|timed out' "$log" | head -20 | sed 's/^/    /'
	fi
done
stop_load
printf '\n%s %s: %d runs, %d failed, %ds\n' "$pkg" "$regex" "$runs" "$fails" "$((SECONDS - start))"
if [[ $fails -gt 0 ]]; then
	echo "failing runs' output is in $out"
	exit 1
fi
rm -rf "$out"
