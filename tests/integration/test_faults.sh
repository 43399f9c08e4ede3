#!/bin/bash
# Driver trouble on the simulated driver: a GPU lost mid-run, unsupported
# fields, read errors, an older driver without the newer symbols, a symbol
# that answers FUNCTION_NOT_FOUND, slow calls.
. "$(dirname "$0")/lib.sh"

# --- a GPU lost mid-run, then recovered ---
cat >"$T/lost.scn" <<'SCN'
gpus 3
at 0 all util=50 power_w=300 temp_c=60 mem_used_mib=1000
at 1 1 lost
at 3 1 recover
SCN
use_sim 3 "$T/lost.scn"
mkdir -p "$T/lost"
"$GPUTEL" collect --out-dir "$T/lost" --interval 0.2 --duration 6 >"$T/lost.log" 2>&1
rc=$?
f=$(csv_in "$T/lost")
check "collect survives a lost gpu (exit 0)" test "$rc" -eq 0
check "30 ticks x 3 gpus are all written" test "$(($(wc -l <"$f") - 1))" -eq 90
down=$(col_values "$f" gpu_status 1 | grep -c '^down$')
check "gpu 1 is down for a while (got $down ticks)" test "$down" -ge 5
check "gpu 1 is up again after it recovers" test "$(col_values "$f" gpu_status 1 | tail -n 3 | sort -u)" = "up"
check "the other gpus were never down" test "$(col_values "$f" gpu_status 0; col_values "$f" gpu_status 2)" = "$(yes up | head -n 60)"
empty_power=$(awk -F, -v s="$(col "$f" gpu_status)" -v p="$(col "$f" power_draw_w)" 'NR > 1 && $s == "down" && $p != "" { bad++ } END { print bad + 0 }' "$f")
check "a down gpu has empty values, never 0" test "$empty_power" -eq 0
check "gpu_sample_ok is 0 while a gpu is down" test "$(awk -F, -v s="$(col "$f" gpu_status)" -v k="$(col "$f" gpu_sample_ok)" 'NR > 1 && $s == "down" && $k != "0" { bad++ } END { print bad + 0 }' "$f")" -eq 0
check "the loss is logged once, naming the gpu" test "$(grep -c 'gpu 1 (GPU-.*) is down: gpu is lost' "$T/lost.log")" -eq 1
check "the recovery is logged" grep -q "gpu 1 (GPU-.*) is back" "$T/lost.log"

# --- unsupported fields and read errors are empty cells, not zeros ---
cat >"$T/unsup.scn" <<'SCN'
gpus 2
at 0 all util=40 power_w=200 temp_c=50 mem_used_mib=100 fan=55
at 0 0 unsupported=fan,ecc,enc,dec,remap
at 0 1 error=power
SCN
use_sim 2 "$T/unsup.scn"
mkdir -p "$T/unsup"
"$GPUTEL" collect --out-dir "$T/unsup" --interval 0.2 --duration 1 >"$T/unsup.log" 2>&1
f=$(csv_in "$T/unsup")
check "unsupported fan is an empty cell on gpu 0" test -z "$(col_values "$f" fan 0 | sort -u)"
check "fan is 55 on gpu 1" test "$(col_values "$f" fan 1 | sort -u)" = "55"
check "unsupported ecc/remap/encoder are empty on gpu 0" test -z "$(for c in ecc_corrected_volatile remapped_rows_pending encoder_util_percent decoder_util_percent; do col_values "$f" $c 0; done | sort -u)"
check "a power read error is an empty cell on gpu 1" test -z "$(col_values "$f" power_draw_w 1 | sort -u)"
check "system_total_w is empty when a gpu's power is unknown" test -z "$(col_values "$f" system_total_w | sort -u)"
check "gpu 1 with one failing field stays up" test "$(col_values "$f" gpu_status 1 | sort -u)" = "up"
"$GPUTEL" gpus --json >"$T/unsup.json"
check "gpus --json lists unsupported and failing fields" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
g0, g1 = d["gpus"]
assert "fan" in g0["unsupported"] and g0["fan"] is None, g0
assert "power_draw_w" in g1["errors"] and g1["power_draw_w"] is None, g1
' "$T/unsup.json"

# --- an older driver: the newer symbols are not exported at all ---
use_sim 2 "$SCN/old-driver.scn"
export GPUTEL_NVML_LIBRARY="$SIM_LIB_OLD"
check "the r418 library really lacks the newer symbols" bash -c "! nm -D --defined-only '$SIM_LIB_OLD' | grep -qE 'nvmlDeviceGetCount_v2|nvmlDeviceGetMemoryInfo_v2|nvmlDeviceGetRemappedRows|ClocksEventReasons'"
mkdir -p "$T/old"
"$GPUTEL" collect --out-dir "$T/old" --interval 0.2 --duration 1 >"$T/old.log" 2>&1
rc=$?
f=$(csv_in "$T/old")
check "collect runs on an older driver (exit 0)" test "$rc" -eq 0
check "memory comes from the v1 call" test -z "$(col_values "$f" memory_used_mb | grep -c '^$' | grep -v '^0$')"
check "clock event reasons come from the old throttle-reasons call" test -n "$(col_values "$f" clocks_event_reasons 0 | head -n1)"
check "remapped rows (R450+) are empty on R418" test -z "$(col_values "$f" remapped_rows_correctable | sort -u)"
check "the old driver's version is reported" grep -q "driver 418" "$T/old.log"

# --- a symbol that answers FUNCTION_NOT_FOUND ---
cat >"$T/nofn.scn" <<'SCN'
gpus 1
missing nvmlDeviceGetTotalEnergyConsumption
at 0 all util=10 power_w=100
SCN
use_sim 1 "$T/nofn.scn"
mkdir -p "$T/nofn"
"$GPUTEL" collect --out-dir "$T/nofn" --interval 0.2 --duration 1 >/dev/null 2>&1
f=$(csv_in "$T/nofn")
check "energy_j is empty when the driver lacks the call" test -z "$(col_values "$f" energy_j | sort -u)"
check "power is still there" test "$(col_values "$f" power_draw_w | sort -u)" = "100.00"

# --- slow calls: ticks are skipped and counted, nothing breaks ---
cat >"$T/slow.scn" <<'SCN'
gpus 2
at 0 all util=10 power_w=100
at 0 0 latency_ms=15
SCN
use_sim 2 "$T/slow.scn"
mkdir -p "$T/slow"
"$GPUTEL" collect --out-dir "$T/slow" --interval 0.1 --duration 2 >"$T/slow.log" 2>&1
rc=$?
f=$(csv_in "$T/slow")
check "slow driver calls: collect still exits 0" test "$rc" -eq 0
check "slow driver calls: gpu_sample_ms shows the cost (> 100 ms)" test "$(col_values "$f" gpu_sample_ms 0 | tail -n1 | cut -d. -f1)" -ge 100
check "slow driver calls: skipped ticks leave gaps in seq, rows stay whole" bash -c "[ \$(awk -F, 'END { print \$$(col "$f" seq) }' '$f') -ge 15 ] && [ $(bad_rows "$f") -eq 0 ]"
check "slow driver calls: the summary counts skipped ticks" grep -qE "stopped after [0-9]+ ticks \([1-9][0-9]* skipped\)" "$T/slow.log"
finish
