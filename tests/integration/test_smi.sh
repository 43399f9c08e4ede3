#!/bin/bash
# The nvidia-smi fallback against the fake nvidia-smi, with NVML absent:
# backend choice and reason, values, missing-value forms, an older driver's
# field names, and a child that dies and is restarted.
. "$(dirname "$0")/lib.sh"

use_host intel
unset GPUTEL_NVML_LIBRARY GPUTEL_NVIDIA_SMI
# A private copy, so that the leftover-process check below sees only ours.
mkdir -p "$T/bin"
cp "$FAKE_SMI_DIR/nvidia-smi" "$T/bin/nvidia-smi"
export PATH="$T/bin:$PATH"
export GPUTEL_SIM_GPUS=3 GPUTEL_SIM_SCENARIO="$SCN/steady.scn"
# Where a real driver is installed, NVML would (rightly) win: pin the fallback.
if ldconfig -p 2>/dev/null | grep -q 'libnvidia-ml.so.1 '; then
	export GPUTEL_GPU_BACKEND=nvidia-smi
	echo "# a real libnvidia-ml.so.1 is installed: forcing GPUTEL_GPU_BACKEND=nvidia-smi"
fi

"$GPUTEL" gpus >"$T/gpus.txt" 2>&1
check "with NVML absent, gpus picks nvidia-smi" grep -q "^backend: nvidia-smi" "$T/gpus.txt"
if [ -z "${GPUTEL_GPU_BACKEND:-}" ]; then
	check "and says why: NVML was not found" grep -q "nvml: libnvidia-ml.so.1 not found" "$T/gpus.txt"
fi
check "gpus lists the 3 fake gpus" test "$(grep -c '^gpu [0-2] ' "$T/gpus.txt")" -eq 3

mkdir -p "$T/out"
"$GPUTEL" collect --out-dir "$T/out" --interval 0.2 --duration 2 >"$T/collect.log" 2>&1
rc=$?
f=$(csv_in "$T/out")
check "collect on nvidia-smi exits 0" test "$rc" -eq 0
check "the backend is visible in the log" grep -q "backend nvidia-smi" "$T/collect.log"
check "the backend column says nvidia-smi" test "$(col_values "$f" backend | sort -u)" = "nvidia-smi"
check "10 ticks x 3 gpus" test "$(($(wc -l <"$f") - 1))" -eq 30
check "no torn rows" test "$(bad_rows "$f")" -eq 0
# After the first round arrives every row has a power value.
check "power_draw_w is filled once the child is running" test "$(col_values "$f" power_draw_w | tail -n 24 | grep -c '^$')" -eq 0
check "energy_j is empty (nvidia-smi has no energy counter)" test -z "$(col_values "$f" energy_j | sort -u)"
check "only one nvidia-smi loop child was used" test "$(grep -c 'restart' "$T/collect.log")" -eq 0

# [N/A] / [Not Supported] / [Unknown Error] become empty cells.
cat >"$T/unsup.scn" <<'SCN'
gpus 2
at 0 all util=40 power_w=200 temp_c=50 mem_used_mib=100 fan=55
at 0 0 unsupported=fan
at 0 1 error=power
SCN
mkdir -p "$T/unsup"
GPUTEL_SIM_SCENARIO="$T/unsup.scn" GPUTEL_SIM_GPUS=2 "$GPUTEL" collect --out-dir "$T/unsup" --interval 0.2 --duration 1.4 >/dev/null 2>&1
f=$(csv_in "$T/unsup")
check "[N/A] fan is an empty cell" test -z "$(col_values "$f" fan 0 | sort -u)"
check "[Unknown Error] power is an empty cell" test -z "$(col_values "$f" power_draw_w 1 | sort -u)"
check "fan 55 where supported" test "$(col_values "$f" fan 1 | tail -n1)" = "55"

# An older driver without clocks_event_reasons.active: the old name is used.
mkdir -p "$T/old"
GPUTEL_SIM_SCENARIO="$SCN/old-driver.scn" "$GPUTEL" collect --out-dir "$T/old" --interval 0.2 --duration 1.4 >"$T/old.log" 2>&1
rc=$?
f=$(csv_in "$T/old")
check "old driver: collect exits 0" test "$rc" -eq 0
check "old driver: clock event reasons come from the throttle-reasons field" test -n "$(col_values "$f" clocks_event_reasons 0 | tail -n1)"

# The child dies every 3 rounds: it is restarted with backoff, collection goes on.
mkdir -p "$T/die"
GPUTEL_SIM_SMI_EXIT_AFTER=3 GPUTEL_SIM_SMI_LOG="$T/starts.log" \
	"$GPUTEL" collect --out-dir "$T/die" --interval 0.2 --duration 5 >"$T/die.log" 2>&1
rc=$?
f=$(csv_in "$T/die")
starts=$(grep -c . "$T/starts.log")
check "a dying nvidia-smi child: collect exits 0" test "$rc" -eq 0
check "a dying nvidia-smi child is restarted (started $starts times)" test "$starts" -ge 2
check "a dying child: every tick still has its rows" test "$(($(wc -l <"$f") - 1))" -eq 75
check "a dying child: values come back after a restart" test "$(col_values "$f" power_draw_w 0 | sed -n '9,$p' | grep -c .)" -ge 1
check "no nvidia-smi child is left running" bash -c "! pgrep -f '$T/bin/nvidia-sm[i]' >/dev/null"

# A GPUTEL_NVIDIA_SMI that does not exist is a configuration error.
GPUTEL_GPU_BACKEND=nvidia-smi GPUTEL_NVIDIA_SMI="$T/nope" "$GPUTEL" gpus >/dev/null 2>"$T/err"
rc=$?
check "a missing GPUTEL_NVIDIA_SMI exits 2 naming the path" bash -c "[ $rc -eq 2 ] && grep -q '$T/nope' '$T/err' && [ \$(wc -l <'$T/err') -eq 1 ]"
finish
