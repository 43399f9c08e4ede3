#!/bin/bash
# /metrics throughput and latency: gputel exporter and gputel agent (8
# simulated GPUs, a host fixture) against prometheus-node-exporter serving
# the same fixture trees (--path.sysfs/--path.procfs; hwmon, rapl, cpu,
# meminfo collectors), side by side in one run, with wrk on loopback.
# Throughput is taken at saturation (16 connections); latency with one
# connection, the way a scraper sees it (at saturation, Little's law makes
# latency 16 / rate whatever the server does).  Then the exporter's RSS and
# CPU over an idle stretch at 1 s polling.
# Usage: bench/exporter_rate.sh [SECONDS_PER_WRK_RUN] [RUNS] [IDLE_SECONDS]
set -u
cd "$(dirname "$0")/.."
scripts/deps.sh --bench || exit 1
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
# The agent, active (steady.scn holds 45 % > 20 % from the start), serving
# the full set as it does while telemetry runs.
ap=$(port)
mkdir -p "$T/agent-out"
"$B/gputel" agent --start-seconds 1 --out-dir "$T/agent-out" --exporter-bind 127.0.0.1 \
	--exporter-port "$ap" --config /dev/null --quiet &
pids+=($!)
np=$(port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$np" --path.sysfs="$fix/sys" \
	--path.procfs="$fix/proc" --collector.disable-defaults --collector.hwmon \
	--collector.rapl --collector.cpu --collector.meminfo >"$T/ne.log" 2>&1 &
pids+=($!)
sleep 3
for u in "http://127.0.0.1:$gp/metrics" "http://127.0.0.1:$ap/metrics" "http://127.0.0.1:$np/metrics"; do
	curl -sf -o /dev/null "$u" || { echo "bench: $u does not answer" >&2; exit 1; }
done

# wrk's --latency summary -> "req/s p50_ms p99_ms"
wrk_run() { # connections threads url
	wrk -t"$2" -c"$1" -d"${dur}s" --latency "$3" 2>&1 | awk '
		/Requests\/sec/ { rps = $2 }
		/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
		function ms(x) { if (x ~ /us$/) return x / 1000; if (x ~ /ms$/) return x + 0; if (x ~ /s$/) return x * 1000; return x }
		END { printf "%s %.3f %.3f\n", rps, ms(p50), ms(p99) }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
url_of() { case $1 in exporter) echo "http://127.0.0.1:$gp/metrics" ;; agent) echo "http://127.0.0.1:$ap/metrics" ;; *) echo "http://127.0.0.1:$np/metrics" ;; esac; }
curl -s "$(url_of agent)" | grep -qx 'gputel_telemetry_active 1' || { echo "bench: the agent is not active" >&2; exit 1; }
for name in exporter agent node_exporter; do
	u=$(url_of $name)
	for ((i = 0; i < runs; i++)); do wrk_run 16 2 "$u"; done >"$T/$name.c16"
	for ((i = 0; i < runs; i++)); do wrk_run 1 1 "$u"; done >"$T/$name.c1"
	echo "$name $(cut -d' ' -f1 "$T/$name.c16" | median) $(cut -d' ' -f2 "$T/$name.c16" | median) $(cut -d' ' -f3 "$T/$name.c16" | median)" \
		"$(cut -d' ' -f1 "$T/$name.c1" | median) $(cut -d' ' -f2 "$T/$name.c1" | median) $(cut -d' ' -f3 "$T/$name.c1" | median) $(curl -s "$u" | wc -c)"
done >"$T/summary"
echo "wrk -d${dur}s --latency on loopback, medians of $runs runs; saturation: -t2 -c16, one scraper: -t1 -c1"
echo
echo "| server | requests/s (c16) | p50 / p99 ms (c16) | requests/s (c1) | p50 / p99 ms (c1) | body (bytes) |"
echo "|---|---|---|---|---|---|"
while read -r name r16 p50 p99 r1 q50 q99 size; do
	case $name in
	exporter) label="gputel exporter (8 GPUs + host)" ;;
	agent) label="gputel agent, active (8 GPUs + host)" ;;
	*) label="prometheus-node-exporter (hwmon, rapl, cpu, meminfo)" ;;
	esac
	echo "| $label | $r16 | $p50 / $p99 | $r1 | $q50 / $q99 | $size |"
done <"$T/summary"
read -r _ e_rps _ <<<"$(grep ^exporter "$T/summary")"
read -r _ a_rps _ <<<"$(grep ^agent "$T/summary")"
read -r _ n_rps _ <<<"$(grep ^node_exporter "$T/summary")"
awk -v e="$e_rps" -v a="$a_rps" -v n="$n_rps" 'BEGIN {
	printf "\nrequest-rate ratio at c16: exporter / node_exporter %.1fx, agent / node_exporter %.1fx\n", e / n, a / n }'

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
