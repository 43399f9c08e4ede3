#!/bin/bash
# The Prometheus exposition (gputel gpus --prometheus, the text the exporter
# will serve): real promtool finds nothing in any scenario, values match the
# simulated driver's, invalid values are absent rather than 0.
. "$(dirname "$0")/lib.sh"

if ! command -v promtool >/dev/null; then
	not_ok "promtool is missing: scripts/deps.sh installs the prometheus package"
	exit 1
fi

# lint "description": promtool check metrics reports nothing on $T/m.txt.
lint() {
	if promtool check metrics <"$T/m.txt" >"$T/lint.txt" 2>&1 && [ ! -s "$T/lint.txt" ]; then
		ok "$1"
	else
		not_ok "$1"
		head -n 10 "$T/lint.txt" | sed 's/^/# /'
	fi
}

cat >"$T/values.scn" <<'SCN'
gpus 3
at 0 all util=37 mem_util=12 power_w=321.5 temp_c=61 mem_used_mib=2048 sm_mhz=1755 fan=44 clock_events=0x4
at 0 1 unsupported=fan error=power
at 0 2 lost
SCN
use_sim 3 "$T/values.scn" intel
"$GPUTEL" gpus --prometheus >"$T/m.txt" 2>"$T/err.txt"
check "gpus --prometheus exits 0 and logs no error" test $? -eq 0 -a "$(grep -c 'error' "$T/err.txt")" -eq 0
lint "promtool: clean with an unsupported field, a failing field and a lost gpu"
m() { grep -E "^$1\{gpu=\"$2\"," "$T/m.txt" | grep -F -- "$3" | awk '{ print $NF }'; }
check "power in watts equals the scenario's 321.5 W" test "$(m gputel_gpu_power_watts 0 '')" = "321.500"
check "utilisation is a ratio (37 % -> 0.37)" test "$(m gputel_gpu_utilization_ratio 0 '')" = "0.37"
check "memory in bytes (2048 MiB)" test "$(m gputel_gpu_memory_used_bytes 0 '')" = "2147483648"
check "SM clock in hertz" test "$(m gputel_gpu_clock_hertz 0 'clock="sm"')" = "1755000000"
check "the sw_power_cap reason is 1" test "$(m gputel_gpu_clocks_event_reason 0 'reason="sw_power_cap"')" = "1"
check "an unsupported fan has no series (not 0)" test -z "$(m gputel_gpu_fan_ratio 1 '')"
check "a failing power read has no series (not 0)" test -z "$(m gputel_gpu_power_watts 1 '')"
check "a lost gpu is up 0" test "$(m gputel_gpu_up 2 '')" = "0"
check "a lost gpu has no values" test -z "$(m gputel_gpu_temperature_celsius 2 '')"
check "host temperature by role (coretemp package)" grep -qE '^gputel_host_temperature_celsius\{role="cpu_pkg"\} [0-9]+\.[0-9]{3}$' "$T/m.txt"
check "RAPL is readable on the fixture" grep -qx 'gputel_rapl_readable 1' "$T/m.txt"

# Every hwmon channel and every RAPL zone, with the fixture's own values.
fix="$ROOT/tests/fixtures/intel/sys/class"
check "one hwmon series per temp*_input in the fixture" \
	test "$(grep -c '^gputel_hwmon_temperature_celsius{' "$T/m.txt")" -eq "$(ls "$fix"/hwmon/hwmon*/temp*_input | wc -l)"
check "hwmon: coretemp's Core 3 reads the fixture's 57000 m°C, device from its device link" \
	grep -qx 'gputel_hwmon_temperature_celsius{chip="coretemp",device="coretemp.0",sensor="Core 3"} 57.000' "$T/m.txt"
check "hwmon: a chip without a device link is told apart by its hwmonN" \
	grep -qx 'gputel_hwmon_temperature_celsius{chip="nvme",device="hwmon1",sensor="Composite"} 38.850' "$T/m.txt"
for z in "$fix"/powercap/intel-rapl:*; do
	want=$(awk '{ printf "%.6f", $1 / 1e6 }' "$z/energy_uj")
	check "rapl: zone $(cat "$z/name") ($(basename "$z")) reads energy_uj / 1e6 = $want J" \
		grep -qx "gputel_rapl_energy_joules_total{zone=\"$(cat "$z/name")\",path=\"$(basename "$z")\"} $want" "$T/m.txt"
done
check "rapl: the MMIO duplicate of the package is not a zone" bash -c "! grep -q 'intel-rapl-mmio' '$T/m.txt'"

# The compatibility name sets keep their original names and units.
"$GPUTEL" gpus --prometheus --metric-names jn,dcgm >"$T/c.txt" 2>/dev/null
check "--metric-names jn,dcgm leaves the gputel_* set out" bash -c "! grep -q '^gputel_' '$T/c.txt'"
c() { grep -E "^$1\{gpu=\"$2\"[,}]" "$T/c.txt" | awk '{ print $NF }'; }
check "jn_gpu_power_w is the scenario's 321.5 W" test "$(c jn_gpu_power_w 0)" = "321.500"
check "jn_gpu_util_pct is a percentage" test "$(c jn_gpu_util_pct 0)" = "37"
check "jn_gpu_mem_used_mb is in MiB" test "$(c jn_gpu_mem_used_mb 0)" = "2048"
check "jn_gpu_fan_pct is absent where the fan is unsupported" test -z "$(c jn_gpu_fan_pct 1)"
check "jn_cpu_pkg_temp_c is the coretemp package's 58 °C" grep -qx 'jn_cpu_pkg_temp_c 58.0' "$T/c.txt"
check "jn_system_total_w is absent while a GPU's power is unknown" bash -c "! grep -q '^jn_system_total_w ' '$T/c.txt'"
check "DCGM_FI_DEV_POWER_USAGE is in W" test "$(c DCGM_FI_DEV_POWER_USAGE 0)" = "321.500"
check "DCGM_FI_DEV_GPU_UTIL is a percentage" test "$(c DCGM_FI_DEV_GPU_UTIL 0)" = "37"
check "DCGM_FI_DEV_FB_USED is in MiB" test "$(c DCGM_FI_DEV_FB_USED 0)" = "2048"
check "DCGM_FI_DEV_SM_CLOCK is in MHz" test "$(c DCGM_FI_DEV_SM_CLOCK 0)" = "1755"
check "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS is the raw mask" test "$(c DCGM_FI_DEV_CLOCK_THROTTLE_REASONS 0)" = "4"
check "dcgm series carry gpu, UUID, pci_bus_id, device, modelName, Hostname and the driver" \
	grep -qE '^DCGM_FI_DEV_GPU_TEMP\{gpu="0",UUID="GPU-[0-9a-f-]+",pci_bus_id="[0-9A-F:.]+",device="nvidia0",modelName="[^"]+",Hostname="[^"]+",DCGM_FI_DRIVER_VERSION="[0-9.]+"\} 61$' "$T/c.txt"
NODE_NAME=node-7 "$GPUTEL" gpus --prometheus --metric-names dcgm >"$T/c.txt" 2>/dev/null
check "dcgm's Hostname follows NODE_NAME, as dcgm-exporter's does" grep -q 'Hostname="node-7"' "$T/c.txt"
"$GPUTEL" gpus --prometheus --metric-names gputel,prom >/dev/null 2>"$T/err.txt"
check "--metric-names with an unknown set: exit 2 naming the choices" \
	bash -c "[ $? -eq 2 ] && grep -q 'gputel, jn, dcgm' '$T/err.txt'"

# lint_compat SET "description": promtool's findings on the set are only
# those its original names cause (listed in docs/metrics.md).
lint_compat() {
	"$GPUTEL" gpus --prometheus --metric-names "$1" 2>/dev/null | promtool check metrics >"$T/lint.txt" 2>&1
	grep -vxE "$allowed" "$T/lint.txt" >"$T/other.txt"
	if [ -s "$T/lint.txt" ] && [ ! -s "$T/other.txt" ]; then
		ok "$2"
	else
		not_ok "$2"
		head -n 10 "$T/other.txt" | sed 's/^/# /'
	fi
}
dcgm_counters='DCGM_FI_DEV_(TOTAL_ENERGY_CONSUMPTION|ECC_SBE_VOL_TOTAL|ECC_DBE_VOL_TOTAL|CORRECTABLE_REMAPPED_ROWS|UNCORRECTABLE_REMAPPED_ROWS)'
allowed_jn='jn_gpu_mem_used_mb metric names should not contain abbreviated units'
allowed_dcgm="DCGM_FI_[A-Z_]+ label names should be written in 'snake_case' not 'camelCase'|$dcgm_counters counter metrics should have \"_total\" suffix"

# Xid errors arrive as NVML events: the exporter counts them per GPU and
# code (once the hold for a kernel line is over) and logs them with what
# they mean.
cat >"$T/xid.scn" <<'SCN'
gpus 2
at 0 all util=10 power_w=100
at 0.1 1 xid=79
SCN
use_sim 2 "$T/xid.scn" intel
XPORT=$(free_port)
"$GPUTEL" exporter --config /dev/null --bind 127.0.0.1 --port "$XPORT" --interval 0.2 2>"$T/err.txt" &
XP=$!
PIDS+=("$XP")
for ((i = 0; i < 50; i++)); do
	curl -s "http://127.0.0.1:$XPORT/metrics" >"$T/m.txt" 2>/dev/null
	grep -q '^gputel_gpu_xid_errors_total' "$T/m.txt" && break
	sleep 0.1
done
kill "$XP"
wait "$XP" 2>/dev/null
check "an Xid 79 on gpu 1 counts 1 there, with its code" test "$(m gputel_gpu_xid_errors_total 1 'xid="79"')" = "1"
check "and gpu 0 has no Xid series" test -z "$(m gputel_gpu_xid_errors_total 0 '')"
check "its time is there too" test -n "$(m gputel_gpu_xid_last_timestamp_seconds 1 'xid="79"')"
check "the Xid is logged with its code and meaning" \
	grep -q 'events: gpu 1 (GPU-[0-9a-f-]*): Xid 79 GPU_HAS_FALLEN_OFF_THE_BUS (fatal, from nvml)' "$T/err.txt"

for scn in steady idle-load-idle unsupported slow-calls xid; do
	use_sim 4 "$SCN/$scn.scn" amd
	"$GPUTEL" gpus --prometheus >"$T/m.txt" 2>/dev/null
	lint "promtool: clean on $scn.scn with the AMD host"
	allowed=$allowed_jn lint_compat jn "promtool on jn, $scn.scn: only the _mb unit finding"
	allowed=$allowed_dcgm lint_compat dcgm "promtool on dcgm, $scn.scn: only camelCase labels and counters without _total"
done
use_sim 2 "$SCN/old-driver.scn" intel
export GPUTEL_NVML_LIBRARY="$SIM_LIB_OLD"
"$GPUTEL" gpus --prometheus >"$T/m.txt" 2>/dev/null
lint "promtool: clean on the R418 driver"
GPUTEL_GPU_BACKEND=none "$GPUTEL" gpus --prometheus >"$T/m.txt" 2>/dev/null
lint "promtool: clean with no GPU backend"
check "no gpu series without a backend" bash -c "! grep -q '^gputel_gpu_' '$T/m.txt'"
"$GPUTEL" gpus --json --prometheus >/dev/null 2>"$T/err.txt"
check "--json with --prometheus is refused (exit 2)" test $? -eq 2
finish
