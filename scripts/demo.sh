#!/bin/sh
# make demo: runs `gputel collect` on 4 simulated GPUs (idle -> load -> idle)
# with the Intel host fixture's sensors for a few seconds, then shows the CSV.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
out=${DEMO_DIR:-$(mktemp -d /tmp/gputel-demo.XXXXXX)}
seconds=${DEMO_SECONDS:-6}

export GPUTEL_NVML_LIBRARY="$PWD/$BUILD/libnvidia-ml-sim.so"
export GPUTEL_SIM_GPUS=4
export GPUTEL_SIM_SCENARIO="$PWD/sim/scenarios/idle-load-idle.scn"
export GPUTEL_SYSFS_ROOT="$PWD/tests/fixtures/intel/sys"
# This machine's own /proc: CPU and memory figures that move.
export GPUTEL_PROCFS_ROOT=/proc
# Start 7 s into the timeline, so the run sees the idle -> load step at 10 s.
GPUTEL_SIM_EPOCH=$(($(date +%s) - 7))
export GPUTEL_SIM_EPOCH

echo "demo: gputel gpus (simulated driver, Intel host fixture)"
"$BUILD/gputel" gpus
echo
echo "demo: gputel collect --out-dir $out --interval 1 --duration $seconds"
"$BUILD/gputel" collect --out-dir "$out" --interval 1 --duration "$seconds"
csv=$(ls "$out"/gpu_telemetry_*.csv)
echo
echo "demo: the CSV is $csv ($(($(wc -l <"$csv") - 1)) rows); GPU 0's rows, a few columns:"
awk -F, -v OFS=, 'NR == 1 || $16 == 0 { print $1, $2, $3, $4, $6, $9, $15, $16, $20, $37 }' "$csv"
echo "demo: every column is described in docs/csv.md"
