#!/bin/bash
# gputel collect and gputel gpus against the simulated driver: rows, columns,
# identity, values, and the guide's column order.
. "$(dirname "$0")/lib.sh"

use_sim 8 "$SCN/steady.scn" intel
out="$T/out"
mkdir -p "$out"

# gputel gpus: backend, reason, every GPU, host sensors.
"$GPUTEL" gpus >"$T/gpus.txt" 2>&1
check "gpus exits 0 on the simulated driver" test $? -eq 0
check "gpus names the nvml backend and the library it loaded" grep -q "^backend: nvml" "$T/gpus.txt"
check "gpus says why (library path and driver version)" grep -q "libnvidia-ml-sim.so, driver " "$T/gpus.txt"
check "gpus lists all 8 gpus, one line each" test "$(grep -c '^gpu [0-7] ' "$T/gpus.txt")" -eq 8
check "a gpu's line has its identity and main readings" \
	grep -qE '^gpu 0  NVIDIA H100 80GB HBM3  GPU-[0-9a-f-]+  [0-9A-F:.]+  up  util 45%  power 310.0 W  temp 55 C  memory 20480/81559 MiB$' "$T/gpus.txt"
check "the backend is said once (not again in a log line)" test "$(grep -c 'libnvidia-ml-sim.so' "$T/gpus.txt")" -eq 1
"$GPUTEL" gpus -v >"$T/gpus-v.txt" 2>&1
check "gpus -v shows host temperatures with their roles" grep -q "coretemp/Package id 0 -> cpu_pkg" "$T/gpus-v.txt"
check "gpus -v shows rapl zones" grep -q "rapl: ok: intel-rapl:0 (package-0, readable)" "$T/gpus-v.txt"
check "gpus -v shows every field of a gpu" grep -q "remapped_rows_failure=0 xid_total=0" "$T/gpus-v.txt"

"$GPUTEL" gpus --json >"$T/gpus.json" 2>"$T/gpus.err"
check "gpus --json is valid JSON with 8 gpus" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["backend"] == "nvml", d["backend"]
assert len(d["gpus"]) == 8
g = d["gpus"][0]
assert g["uuid"].startswith("GPU-") and g["status"] == "up"
assert isinstance(g["power_draw_w"], float) and g["power_draw_w"] > 0
assert d["host"]["rapl_status"] == "ok"
assert any(t["role"] == "cpu_pkg" for t in d["host"]["temperatures"])
' "$T/gpus.json"
check "gpus --json prints nothing on stderr" test ! -s "$T/gpus.err"

# collect: 3 s at 0.25 s = 12 ticks, 8 rows each.
"$GPUTEL" collect --out-dir "$out" --interval 0.25 --duration 3 >"$T/collect.log" 2>&1
rc=$?
check "collect --duration exits 0" test "$rc" -eq 0
f=$(csv_in "$out")
check "collect writes gpu_telemetry_<UTC>.csv" bash -c "[[ \$(basename '$f') =~ ^gpu_telemetry_[0-9]{8}T[0-9]{6}Z\.csv$ ]]"
check "collect logs where the CSV goes" grep -q "writing $f every" "$T/collect.log"
check "the guide's 14 columns come first, in order" test "$(head -n1 "$f" | cut -d, -f1-14)" = \
	"timestamp,power_draw_w,temperature_c,util_gpu_percent,util_mem_percent,memory_used_mb,fan,cpu_pkg_w,cpu_pkg_temp_c,cpu_core_max_c,t_sensor_temp_c,chipset_temp_c,vrm_temp_c,system_total_w"
check "every documented column is in the header" bash -c "
	for c in \$(head -n1 '$f' | tr ',' ' '); do grep -q \"^| \\\`\$c\\\`\" '$ROOT/docs/csv.md' || { echo \"undocumented: \$c\"; exit 1; }; done"
rows=$(($(wc -l <"$f") - 1))
check "12 ticks x 8 gpus = 96 rows (got $rows)" test "$rows" -eq 96
check "no torn or short rows" test "$(bad_rows "$f")" -eq 0
check "seq runs 1..12 for gpu 3" test "$(col_values "$f" seq 3 | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 11 12 "
check "gpu_index covers 0..7 each tick" test "$(col_values "$f" gpu_index | sort -u | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 "
check "timestamps are ISO 8601 UTC with milliseconds" test "$(tail -n +2 "$f" | cut -d, -f1 | grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$')" -eq 0
check "ticks keep their schedule: tick k starts k x 0.25 s after tick 1 (within 20 ms)" python3 -c '
import csv, sys, datetime as dt
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["gpu_index"] == "0"]
t = [dt.datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() for r in rows]
worst = max(abs(t[k] - t[0] - (int(rows[k]["seq"]) - 1) * 0.25) for k in range(len(t)))
sys.exit(worst > 0.02)
' "$f"
check "gpu_sample_ok and host_sample_ok are 1 on a healthy run" test "$(col_values "$f" gpu_sample_ok | sort -u)$(col_values "$f" host_sample_ok | sort -u)" = "11"
check "uuids are distinct per gpu" test "$(col_values "$f" gpu_uuid | sort -u | wc -l)" -eq 8
check "backend column says nvml" test "$(col_values "$f" backend | sort -u)" = "nvml"
for c in power_draw_w temperature_c util_gpu_percent memory_used_mb memory_total_mb energy_j sm_clock_mhz cpu_pkg_temp_c cpu_core_max_c t_sensor_temp_c chipset_temp_c vrm_temp_c host_mem_used_mb; do
	check "column $c is filled on every row" test "$(col_values "$f" $c | grep -c '^$')" -eq 0
done
check "cpu_pkg_temp_c comes from coretemp Package id 0 (fixture value)" test "$(col_values "$f" cpu_pkg_temp_c 0 | sort -u)" = "$(awk '{ printf "%.1f", $1 / 1000 }' "$(grep -l 'Package id 0' "$FIX"/intel/sys/class/hwmon/*/temp*_label | sed 's/_label$/_input/')")"
decreases=$(col_values "$f" energy_j 0 | awk 'NR > 1 && $1 < p { bad++ } { p = $1 } END { print bad + 0 }')
check "energy_j never decreases for gpu 0" test "$decreases" -eq 0
check "summary line counts 96 rows and 0 dropped" grep -q "12 ticks (0 skipped); 96 rows in $f, 0 dropped" "$T/collect.log"

# The fixture's /proc/stat never moves, so CPU utilisation is measured on this machine's /proc.
out3="$T/realproc"
mkdir -p "$out3"
GPUTEL_PROCFS_ROOT=/proc "$GPUTEL" collect --out-dir "$out3" --interval 0.2 --duration 1 >/dev/null 2>&1
f3=$(csv_in "$out3")
check "cpu_util_percent is a percentage on every tick after the first (real /proc)" test "$(col_values "$f3" cpu_util_percent 0 | tail -n +2 | grep -cvE '^[0-9]+\.[0-9]{2}$')" -eq 0
check "with a static /proc/stat, cpu_util_percent is empty, not 0" test -z "$(col_values "$f" cpu_util_percent | sort -u)"

# No GPU backend at all: host rows keep coming, one per tick.
out2="$T/nogpu"
mkdir -p "$out2"
GPUTEL_GPU_BACKEND=none "$GPUTEL" collect --out-dir "$out2" --interval 0.2 --duration 1 >"$T/nogpu.log" 2>&1
f2=$(csv_in "$out2")
check "without a gpu backend collect still writes host rows (5 ticks)" test "$(($(wc -l <"$f2") - 1))" -eq 5
check "host-only rows say gpu_status none and keep host columns" test "$(col_values "$f2" gpu_status | sort -u)/$(col_values "$f2" cpu_pkg_temp_c | grep -c .)" = "none/5"

# A missing out-dir, and its missing parents, are created (mode 0750) as other collectors do.
"$GPUTEL" collect --out-dir "$T/new/a/b" --interval 0.2 --duration 0.4 >"$T/new.log" 2>&1
check "collect creates a missing --out-dir and its parents, mode 0750 (got $(stat -c %a "$T/new/a/b" 2>/dev/null))" \
	test $? -eq 0 -a "$(stat -c %a "$T/new/a/b" 2>/dev/null)" = 750 -a -n "$(csv_in "$T/new/a/b")"

# A RAPL counter that has not moved since the previous read gives an empty cpu_pkg_w, never 0.00.
check "a static RAPL counter: cpu_pkg_w and system_total_w are empty, never 0.00" \
	test -z "$(col_values "$f" cpu_pkg_w | sort -u)$(col_values "$f" system_total_w | sort -u)"

finish
