#!/bin/bash
# On a machine with a real NVIDIA GPU and driver: gputel against nvidia-smi.
#   - `gputel gpus` and `gputel gpus --json`;
#   - `gputel collect` for 30 s at 1 s under a matrix-multiply load
#     (PyTorch, when installed), with `nvidia-smi --query-gpu -lms 1000`
#     recording the same fields at the same time;
#   - one NVML tick (gputel's gpu_sample_ms at 10 ms for 10 s) against one
#     `nvidia-smi --query-gpu` invocation (20 timed runs);
#   - the nvidia-smi fallback backend on the real driver for 5 s.
# Usage: bench/gpu_real.sh OUTDIR     (then bench/gpu_compare.py OUTDIR)
set -u
cd "$(dirname "$0")/.."
out=${1:?usage: bench/gpu_real.sh OUTDIR}
mkdir -p "$out"
G=${GPUTEL:-build/gputel}
fields=timestamp,index,power.draw,temperature.gpu,utilization.gpu,utilization.memory,memory.used,clocks.sm,clocks.mem,pstate,enforced.power.limit,fan.speed

nvidia-smi --query-gpu=name,driver_version,pci.bus_id,persistence_mode --format=csv >"$out/device.txt" 2>&1
uname -r >>"$out/device.txt"
"$G" gpus >"$out/gpus.txt" 2>&1
"$G" gpus --json >"$out/gpus.json" 2>"$out/gpus-json.err"

load_pid=
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
	python3 - <<'PY' >"$out/load.log" 2>&1 &
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
end = time.time() + 60
n = 0
while time.time() < end:
    b = a @ a
    n += 1
    if n % 50 == 0:
        torch.cuda.synchronize()
torch.cuda.synchronize()
print("matmuls", n)
PY
	load_pid=$!
	sleep 5
fi
mkdir -p "$out/collect"
"$G" collect --out-dir "$out/collect" --interval 1 --duration 30 2>"$out/collect.log" &
cpid=$!
nvidia-smi --query-gpu=$fields --format=csv,noheader,nounits -lms 1000 >"$out/nvidia-smi.csv" 2>&1 &
spid=$!
wait "$cpid"
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null

# One NVML tick against one nvidia-smi run, under the same load.
mkdir -p "$out/fast"
"$G" collect --out-dir "$out/fast" --interval 0.01 --duration 10 2>"$out/fast.log"
TIMEFORMAT='%R %U %S'
for i in $(seq 20); do
	{ time nvidia-smi --query-gpu=$fields --format=csv,noheader,nounits >/dev/null; } 2>>"$out/smi-invocation.txt"
done
[ -n "$load_pid" ] && wait "$load_pid"

mkdir -p "$out/smiback"
GPUTEL_GPU_BACKEND=nvidia-smi "$G" collect --out-dir "$out/smiback" --interval 1 --duration 5 2>"$out/smiback.log"
echo "done" >"$out/done"
