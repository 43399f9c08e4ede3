#!/bin/bash
# On a machine with a real NVIDIA GPU: `gputel agent` with the guide's
# thresholds (--start-util 20 --start-seconds 5 --stop-util 10
# --stop-seconds 15) while a GPU load (PyTorch matmul) runs from 10 s to
# 40 s.  Records the transition times against the load's, the CSV, a scrape
# during the load, and the agent's CPU and RSS.
# Usage: bench/agent_real.sh OUTDIR
set -u
cd "$(dirname "$0")/.."
out=${1:?usage: bench/agent_real.sh OUTDIR}
G=${GPUTEL:-build/gputel}
mkdir -p "$out/csv"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t0=$(date +%s.%N)
"$G" agent --start-util 20 --start-seconds 5 --stop-util 10 --stop-seconds 15 \
	--out-dir "$out/csv" --exporter-bind 127.0.0.1 --exporter-port "$port" --duration 70 \
	>"$out/agent.log" 2>&1 &
agent=$!
sleep 10
load_start=$(date +%s.%N)
python3 - <<'PY' >"$out/load.log" 2>&1 &
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
end = time.time() + 30
while time.time() < end:
    b = a @ a
    torch.cuda.synchronize()
PY
load=$!
sleep 15
curl -s "http://127.0.0.1:$port/metrics" >"$out/scrape-during-load.txt"
wait "$load"
load_end=$(date +%s.%N)
sleep 5
curl -s "http://127.0.0.1:$port/metrics" >"$out/scrape-after-load.txt"
cpu0=$(awk '{ print $14 + $15 }' /proc/$agent/stat)
rss=$(awk '/VmRSS/ { print $2 }' /proc/$agent/status)
hwm=$(awk '/VmHWM/ { print $2 }' /proc/$agent/status)
wait "$agent"
echo "t0 $t0 load_start $load_start load_end $load_end rss_kib $rss hwm_kib $hwm clk_tck $(getconf CLK_TCK) agent_cpu_ticks_at_55s $cpu0" >"$out/times.txt"
TIMEFORMAT='%R %U %S'
for i in $(seq 10); do
	{ time nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits >/dev/null; } 2>>"$out/smi-util-query.txt"
done
