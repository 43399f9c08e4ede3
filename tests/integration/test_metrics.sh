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

for scn in steady idle-load-idle unsupported slow-calls xid; do
	use_sim 4 "$SCN/$scn.scn" amd
	"$GPUTEL" gpus --prometheus >"$T/m.txt" 2>/dev/null
	lint "promtool: clean on $scn.scn with the AMD host"
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
