#!/bin/bash
# /metrics throughput and latency: gputel exporter (8 simulated GPUs, a host
# fixture) against prometheus-node-exporter serving the same fixture trees
# (--path.sysfs/--path.procfs; hwmon, rapl, cpu, meminfo collectors), side
# by side in one run, with wrk on loopback.  Then the exporter's RSS and CPU
# over an idle stretch at 1 s polling.
# Usage: bench/exporter_rate.sh [SECONDS_PER_WRK_RUN] [RUNS] [IDLE_SECONDS]
set -u
cd "$(dirname "$0")/.."
dur=${1:-10}
runs=${2:-3}
idle=${3:-300}
B=${BUILD:-build}
T=$(mktemp -d /tmp/gputel-bench.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fix=$PWD/tests/fixtures/intel

export GPUTEL_NVML_LIBRARY=$PWD/$B/libnvidia-ml-sim.so GPUTEL_SIM_GPUS=8
export GPUTEL_SIM_SCENARIO=$PWD/sim/scenarios/steady.scn
export GPUTEL_SYSFS_ROOT=$fix/sys GPUTEL_PROCFS_ROOT=$fix/proc
gp=$(port)
"$B/gputel" exporter --bind 127.0.0.1 --port "$gp" --quiet &
gpid=$!
pids+=("$gpid")
np=$(port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$np" --path.sysfs="$fix/sys" \
	--path.procfs="$fix/proc" --collector.disable-defaults --collector.hwmon \
	--collector.rapl --collector.cpu --collector.meminfo >"$T/ne.log" 2>&1 &
pids+=($!)
sleep 2
for u in "http://127.0.0.1:$gp/metrics" "http://127.0.0.1:$np/metrics"; do
	curl -sf -o /dev/null "$u" || { echo "bench: $u does not answer" >&2; exit 1; }
done

# wrk's --latency summary -> "req/s p50_ms p99_ms"
wrk_run() {
	wrk -t2 -c16 -d"${dur}s" --latency "$1" 2>&1 | awk '
		/Requests\/sec/ { rps = $2 }
		/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
		function ms(x) { if (x ~ /us$/) return x / 1000; if (x ~ /ms$/) return x + 0; if (x ~ /s$/) return x * 1000; return x }
		END { printf "%s %.3f %.3f\n", rps, ms(p50), ms(p99) }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for name in gputel node_exporter; do
	[ "$name" = gputel ] && u="http://127.0.0.1:$gp/metrics" || u="http://127.0.0.1:$np/metrics"
	for ((i = 0; i < runs; i++)); do wrk_run "$u"; done >"$T/$name"
	echo "$name $(cut -d' ' -f1 "$T/$name" | median) $(cut -d' ' -f2 "$T/$name" | median) $(cut -d' ' -f3 "$T/$name" | median) $(curl -s "$u" | wc -c)"
done >"$T/summary"
read -r _ g_rps g_p50 g_p99 g_size <<<"$(grep ^gputel "$T/summary")"
read -r _ n_rps n_p50 n_p99 n_size <<<"$(grep ^node_exporter "$T/summary")"
echo "wrk -t2 -c16 -d${dur}s --latency, medians of $runs runs, loopback:"
echo
echo "| server | requests/s | p50 (ms) | p99 (ms) | body (bytes) |"
echo "|---|---|---|---|---|"
echo "| gputel exporter (8 GPUs + host) | $g_rps | $g_p50 | $g_p99 | $g_size |"
echo "| prometheus-node-exporter (hwmon, rapl, cpu, meminfo) | $n_rps | $n_p50 | $n_p99 | $n_size |"
awk -v g="$g_rps" -v n="$n_rps" 'BEGIN { printf "\nrequest-rate ratio gputel / node_exporter: %.1fx\n", g / n }'

# Idle cost: RSS and CPU of the exporter over an idle stretch at 1 s polling.
t0=$(awk '{ print $14 + $15 }' /proc/$gpid/stat)
sleep "$idle"
t1=$(awk '{ print $14 + $15 }' /proc/$gpid/stat)
hz=$(getconf CLK_TCK)
rss=$(awk '/VmRSS/ { print $2 }' /proc/$gpid/status)
hwm=$(awk '/VmHWM/ { print $2 }' /proc/$gpid/status)
awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$idle" -v r="$rss" -v h="$hwm" 'BEGIN {
	printf "\nexporter idle for %d s at 1 s polling (no scrapes): CPU %.3f %% of one core, RSS %d KiB (peak %d KiB after the wrk runs)\n",
		s, (b - a) / hz / s * 100, r, h }'
