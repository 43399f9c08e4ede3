#!/bin/bash
# valgrind memcheck over collect and gpus on the simulated driver and over
# the nvidia-smi fallback: no invalid access, no leak.
. "$(dirname "$0")/lib.sh"

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
unset GPUTEL_NVML_LIBRARY
export GPUTEL_GPU_BACKEND=nvidia-smi PATH="$FAKE_SMI_DIR:$PATH"
vcheck "valgrind: collect on the nvidia-smi fallback is clean" "$T/vg3.log" \
	"$GPUTEL" collect --out-dir "$T/out" --interval 0.1 --duration 1
finish
