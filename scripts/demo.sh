#!/bin/sh
# make demo: runs `gputel collect` on 4 simulated GPUs (idle -> load -> idle)
# with the Intel host fixture for a few seconds, then shows the CSV.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
out=${DEMO_DIR:-$(mktemp -d /tmp/gputel-demo.XXXXXX)}
seconds=${DEMO_SECONDS:-6}

export GPUTEL_NVML_LIBRARY="$PWD/$BUILD/libnvidia-ml-sim.so"
export GPUTEL_SIM_GPUS=4
export GPUTEL_SIM_SCENARIO="$PWD/sim/scenarios/idle-load-idle.scn"
export GPUTEL_SYSFS_ROOT="$PWD/tests/fixtures/intel/sys"
export GPUTEL_PROCFS_ROOT="$PWD/tests/fixtures/intel/proc"

echo "demo: gputel gpus (simulated driver, Intel host fixture)"
"$BUILD/gputel" gpus
echo
echo "demo: gputel collect --out-dir $out --interval 1 --duration $seconds"
"$BUILD/gputel" collect --out-dir "$out" --interval 1 --duration "$seconds"
csv=$(ls "$out"/gpu_telemetry_*.csv)
echo
echo "demo: the CSV is $csv ($(($(wc -l <"$csv") - 1)) rows); its first columns:"
cut -d, -f1-8,15-20 "$csv" | head -n 9
