#!/bin/bash
# valgrind memcheck over collect and gpus on the simulated driver and over
# the nvidia-smi fallback: no invalid access, no leak.
. "$(dirname "$0")/lib.sh"

# valgrind cannot run a sanitizer build (make check SANITIZE=...): then it
# checks a plain build of the same tree, made here.
if nm "$GPUTEL" 2>/dev/null | grep -q '__asan_init\|__ubsan_handle'; then
	echo "# $GPUTEL is sanitizer-instrumented: building a plain copy for valgrind"
	if ! make -s -C "$ROOT" BUILD="$T/plain" SANITIZE= all >"$T/build.log" 2>&1; then
		not_ok "plain build for valgrind"
		tail -n 20 "$T/build.log" | sed 's/^/# /'
		exit 1
	fi
	GPUTEL="$T/plain/gputel" SIM_LIB="$T/plain/libnvidia-ml-sim.so" FAKE_SMI_DIR="$T/plain/fake-smi"
fi
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-fds=no)
use_sim 4 "$SCN/idle-load-idle.scn" amd
mkdir -p "$T/out"
vcheck() { # description log command...
	local d=$1 log=$2
	shift 2
	if "${vg[@]}" "$@" >"$log" 2>&1; then
		ok "$d"
	else
		not_ok "$d"
		head -n 30 "$log" | sed 's/^/# /'
	fi
}
vcheck "valgrind: collect on the simulated driver is clean" "$T/vg1.log" \
	"$GPUTEL" collect --out-dir "$T/out" --interval 0.1 --duration 1
vcheck "valgrind: gpus --json is clean" "$T/vg2.log" "$GPUTEL" gpus --json
printf 'JN_START_UTIL=30\nJN_STOP_UTIL=5\nJN_GPUS=0-3\nJN_STRT_UTIL=1\n' >"$T/c.conf"
vcheck "valgrind: config show --json is clean" "$T/vg4.log" "$GPUTEL" config show --json --config "$T/c.conf"
# The doctor finds no agent here, so it exits 1; 99 would be valgrind's.
"${vg[@]}" "$GPUTEL" doctor --json --config "$T/c.conf" --logrotate "$T/none" >"$T/vg5.log" 2>&1
rc=$?
check "valgrind: doctor --json is clean (exit $rc)" test "$rc" -eq 0 -o "$rc" -eq 1
[ "$rc" -eq 99 ] && head -n 30 "$T/vg5.log" | sed 's/^/# /'
# Nothing allocates per tick once warmed up: 10 ticks and 50 ticks make
# the same number of heap allocations.
allocs() { # ticks
	valgrind "$GPUTEL" collect --out-dir "$T/out" --interval 0.02 --duration "$(awk -v t="$1" 'BEGIN { print t * 0.02 }')" 2>&1 |
		grep -oE 'total heap usage: [0-9,]+ allocs' | grep -oE '[0-9,]+' | tr -d ,
}
a10=$(allocs 10)
a50=$(allocs 50)
check "no allocation per tick: $a10 allocs for 10 ticks, $a50 for 50 (nvml)" test -n "$a10" -a "$a10" = "$a50"
unset GPUTEL_NVML_LIBRARY
export GPUTEL_GPU_BACKEND=nvidia-smi PATH="$FAKE_SMI_DIR:$PATH"
vcheck "valgrind: collect on the nvidia-smi fallback is clean" "$T/vg3.log" \
	"$GPUTEL" collect --out-dir "$T/out" --interval 0.1 --duration 1
a10=$(allocs 10)
a50=$(allocs 50)
check "no allocation per tick: $a10 allocs for 10 ticks, $a50 for 50 (nvidia-smi)" test -n "$a10" -a "$a10" = "$a50"
finish
