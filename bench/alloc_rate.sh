#!/bin/bash
# Allocation begin+end round trips over the control socket, through
# libgputel, with 1 and 16 client threads (rate, p50/p99 per round trip),
# then the agent's RSS with 1000 live allocations.  The agent watches 8
# simulated GPUs; its state directory is on the same file system as /tmp,
# so every save is a real fsync.
# Usage: bench/alloc_rate.sh [SECONDS_PER_RUN] [RUNS]
set -u
cd "$(dirname "$0")/.."
dur=${1:-5}
runs=${2:-3}
B=${BUILD:-build}
T=$(mktemp -d /tmp/gputel-bench.XXXXXX)
trap 'kill $ag 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
make -s "$B/libgputel.so.1" "$B/gputel" || exit 1
cc -O2 -std=c11 -Iinclude -o "$T/alloc_rate" bench/alloc_rate.c -L"$B" -lgputel -pthread || exit 1
export LD_LIBRARY_PATH="$PWD/$B" JN_CONTROL_SOCKET="$T/control.sock"
export GPUTEL_NVML_LIBRARY=$PWD/$B/libnvidia-ml-sim.so GPUTEL_SIM_GPUS=8
export GPUTEL_SIM_SCENARIO=$PWD/sim/scenarios/steady.scn
export GPUTEL_SYSFS_ROOT=$PWD/tests/fixtures/intel/sys GPUTEL_PROCFS_ROOT=$PWD/tests/fixtures/intel/proc
mkdir -p "$T/state" "$T/out"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B/gputel" agent --config /dev/null --quiet --out-dir "$T/out" --state-dir "$T/state" \
	--exporter-bind 127.0.0.1 --exporter-port "$port" --start-util 90 &
ag=$!
for ((i = 0; i < 50; i++)); do [ -S "$T/control.sock" ] && break; sleep 0.1; done
sleep 1
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "begin+end round trips through libgputel, ${dur} s per run, medians of $runs runs ($(df -T "$T" | awk 'NR == 2 { print $2 }') state directory):"
echo
echo "| client threads | round trips/s | p50 (ms) | p99 (ms) | errors |"
echo "|---|---|---|---|---|"
for c in 1 16; do
	for ((i = 0; i < runs; i++)); do "$T/alloc_rate" "$c" "$dur"; done >"$T/r$c"
	echo "| $c | $(cut -d' ' -f1 "$T/r$c" | median) | $(cut -d' ' -f2 "$T/r$c" | median) | $(cut -d' ' -f3 "$T/r$c" | median) | $(awk '{ s += $4 } END { print s }' "$T/r$c") |"
done
rss0=$(awk '/VmRSS/ { print $2 }' /proc/$ag/status)
python3 - "$T/control.sock" <<'PY'
import http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
for i in range(1000):
    c = C("x"); c.request("POST", "/v1/allocations", '{"id": "live-%d", "gpus": [%d], "owner": "bench", "labels": {"job": "j%d"}}' % (i, i % 8, i))
    r = c.getresponse(); r.read(); assert r.status == 201, r.status
PY
sleep 2.5
rss1=$(awk '/VmRSS/ { print $2 }' /proc/$ag/status)
state=$(stat -c %s "$T/state/allocations.json")
echo
echo "agent RSS: $rss0 KiB with no allocation, $rss1 KiB with 1000 live ones (state file $state bytes)"
