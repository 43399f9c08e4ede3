#!/bin/bash
# make demo: the agent on 4 simulated GPUs with a load spike (busy from
# 3 s to 11 s, sim/scenarios/spike.scn) and the Intel host fixture's
# sensors.  Telemetry switches on after 5 s of load and off after 5 s of
# idle, and the period's CSV begins at the load's first busy tick (the
# pre-roll); the exporter answers throughout on a loopback port.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
# The demo's files go to DEMO_DIR, else to a new temporary directory that is
# removed when the demo fails or is interrupted, and kept (it says where) when
# it finishes, for a look at the CSV.
if [ -n "${DEMO_DIR:-}" ]; then
	out=$DEMO_DIR
	made_out=false
else
	out=$(mktemp -d /tmp/gputel-demo.XXXXXX)
	made_out=true
fi
agent=
finished=false
cleanup() {
	[ -n "$agent" ] && kill "$agent" 2>/dev/null || true
	if $made_out && ! $finished; then
		rm -rf "$out"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port=${DEMO_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

export GPUTEL_NVML_LIBRARY="$BUILD/libnvidia-ml-sim.so"
export GPUTEL_SIM_GPUS=4
export GPUTEL_SIM_SCENARIO="$PWD/sim/scenarios/spike.scn"
export GPUTEL_SYSFS_ROOT="$PWD/tests/fixtures/intel/sys"
# This machine's own /proc: CPU and memory figures that move.
export GPUTEL_PROCFS_ROOT=/proc
GPUTEL_SIM_EPOCH=$(date +%s.%N)
export GPUTEL_SIM_EPOCH

echo "demo: gputel gpus (simulated driver, Intel host fixture)"
"$BUILD/gputel" gpus
echo
echo "demo: gputel agent --start-util 20 --start-seconds 5 --stop-util 10 --stop-seconds 5 --out-dir $out --exporter-port $port (18 s)"
"$BUILD/gputel" agent --start-util 20 --start-seconds 5 --stop-util 10 --stop-seconds 5 \
	--out-dir "$out" --exporter-bind 127.0.0.1 --exporter-port "$port" --duration 18 \
	--control-socket "$out/control.sock" --state-dir "$out" &
agent=$!
for t in 2 10; do
	sleep $((t == 2 ? 2 : 8))
	echo "demo: at ${t} s, curl /metrics: $(curl -s "http://127.0.0.1:$port/metrics" | grep -E '^gputel_(telemetry_active|gpu_power_watts\{gpu="0")' | sed 's/{.*}//' | tr '\n' ' ')"
done
wait $agent
agent=
csv=$(ls "$out"/gpu_telemetry_*.csv)
echo
first=$(awk -F, 'NR == 2 { print $1 }' "$csv")
echo "demo: the active period's CSV is $csv ($(($(wc -l <"$csv") - 1)) rows)."
echo "demo: telemetry turned on after 5 s of load, yet the file begins at $first,"
at=$(python3 -c '
import sys, datetime as dt
t = dt.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()
print("%.1f" % (t - float(sys.argv[2])))' "$first" "$GPUTEL_SIM_EPOCH")
echo "demo: $at s into the scenario: the load's first busy tick. GPU 0's rows, a few columns:"
awk -F, -v OFS=, 'NR == 1 || $16 == 0 { print $1, $2, $3, $4, $6, $9, $15, $16, $20 }' "$csv" | head -n 8
echo "..."
echo "demo: every column is described in docs/csv.md, every metric in docs/metrics.md;"
echo "demo: the allocation API the agent also served (on $out/control.sock) is in docs/control-api.md"
finished=true
if $made_out; then
	echo "demo: the CSV and the agent's state are kept in $out to look at; rm -r $out removes them"
fi
