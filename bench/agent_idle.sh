#!/bin/bash
# The agent's idle cost: RSS and CPU of `gputel agent` over IDLE_SECONDS at
# 1 s polling on 8 simulated idle GPUs (the Intel host fixture), exporter on.
# Usage: bench/agent_idle.sh [IDLE_SECONDS]
set -u
cd "$(dirname "$0")/.."
idle=${1:-300}
B=${BUILD:-build}
T=$(mktemp -d /tmp/gputel-idle.XXXXXX)
cat >"$T/idle.scn" <<'SCN'
gpus 8
at 0 all util=1 power_w=60 temp_c=30
SCN
export GPUTEL_NVML_LIBRARY=$PWD/$B/libnvidia-ml-sim.so GPUTEL_SIM_SCENARIO=$T/idle.scn
export GPUTEL_SYSFS_ROOT=$PWD/tests/fixtures/intel/sys GPUTEL_PROCFS_ROOT=$PWD/tests/fixtures/intel/proc
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B/gputel" agent --out-dir "$T" --exporter-bind 127.0.0.1 --exporter-port "$port" --quiet &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$T"' EXIT
sleep 3
t0=$(awk '{ print $14 + $15 }' /proc/$pid/stat)
sleep "$idle"
t1=$(awk '{ print $14 + $15 }' /proc/$pid/stat)
awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v s="$idle" \
	-v r="$(awk '/VmRSS/ { print $2 }' /proc/$pid/status)" -v h="$(awk '/VmHWM/ { print $2 }' /proc/$pid/status)" 'BEGIN {
	printf "agent idle for %d s at 1 s polling, 8 simulated GPUs, exporter on: CPU %.3f %% of one core, RSS %d KiB, peak %d KiB\n",
		s, (b - a) / hz / s * 100, r, h }'
