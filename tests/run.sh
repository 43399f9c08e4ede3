#!/bin/bash
# Runs gputel's tests and ends with the line "N passed, N failed".
#   tests/run.sh                 unit, integration and fuzz smoke tests
#   tests/run.sh --unit | --integration | --fuzz
# Every test prints TAP lines ("ok ..." / "not ok ..."); this counts them.
# FUZZ_SECONDS (default 10) bounds each fuzzer's smoke run.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD

mode=${1:-all}
passed=0
failed=0
skipped=0
failures=()

# Counts the TAP lines of one test program's output; a program that fails
# without printing a "not ok" still counts as one failure.
count() {
	local name=$1 out=$2 status=$3
	local p f s
	# "# SKIP" lines are neither passes nor failures: they are counted apart.
	s=$(grep -cE '^(not )?ok .*# SKIP' <<<"$out")
	p=$(grep -E '^ok ' <<<"$out" | grep -vc '# SKIP')
	f=$(grep -E '^not ok ' <<<"$out" | grep -vc '# SKIP')
	skipped=$((skipped + s))
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $status"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		grep -E '^not ok ' <<<"$out" | sed "s|^|  $name: |"
	fi
}

run_unit() {
	local t out status
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		echo "# unit: $(basename "$t")"
		out=$(CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$t" 2>&1)
		status=$?
		printf '%s\n' "$out" | grep -E '^(ok|not ok) ' || true
		count "$(basename "$t")" "$out" "$status"
	done
}

run_integration() {
	local t out status
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		echo "# integration: $(basename "$t")"
		out=$(timeout 600 bash "$t" 2>&1)
		status=$?
		printf '%s\n' "$out" | grep -E '^(ok|not ok|#) ' || true
		count "$(basename "$t")" "$out" "$status"
	done
}

run_fuzz() {
	local f name out status corpus
	for f in "$BUILD"/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		corpus=$(mktemp -d)
		[ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
		echo "# fuzz: $name for ${FUZZ_SECONDS:-10}s"
		# A crashing input is kept under $BUILD/fuzz-artifacts, not in the checkout.
		mkdir -p "$BUILD/fuzz-artifacts"
		out=$("$f" -max_total_time="${FUZZ_SECONDS:-10}" -timeout=5 \
			-artifact_prefix="$BUILD/fuzz-artifacts/$name-" "$corpus" 2>&1)
		status=$?
		rm -rf "$corpus"
		if [ "$status" -eq 0 ]; then
			out="ok - $name: no crash in ${FUZZ_SECONDS:-10}s"
		else
			out="not ok - $name: $(grep -m1 -E 'ERROR|SUMMARY' <<<"$out") (input kept in $BUILD/fuzz-artifacts)"
		fi
		echo "$out"
		count "$name" "$out" 0
	done
}

case "$mode" in
	--unit) run_unit ;;
	--integration) run_integration ;;
	--fuzz) run_fuzz ;;
	all) run_unit; run_integration; run_fuzz ;;
	*) echo "usage: tests/run.sh [--unit|--integration|--fuzz]" >&2; exit 2 ;;
esac

if [ "${#failures[@]}" -gt 0 ]; then
	echo "# failed: ${failures[*]}"
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
