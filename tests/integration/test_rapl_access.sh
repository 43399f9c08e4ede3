#!/bin/bash
# RAPL energy_uj readable by root only (as on current kernels): one warning
# that says exactly how to grant read access, and an explicit state in the
# output instead of silence or zeros.
. "$(dirname "$0")/lib.sh"

# A private copy of the fixture whose energy_uj files are root-only.
cp -r "$FIX/intel" "$T/intel"
find "$T/intel" -name energy_uj -exec chmod 0400 {} +
chmod -R a+rX "$T/intel" 2>/dev/null
find "$T/intel" -name energy_uj -exec chmod 0400 {} +
use_sim 2
export GPUTEL_SYSFS_ROOT="$T/intel/sys" GPUTEL_PROCFS_ROOT="$T/intel/proc"
mkdir -p "$T/out"
chmod 777 "$T/out"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
	as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
"${as_user[@]}" "$GPUTEL" collect --out-dir "$T/out" --interval 0.2 --duration 1 >"$T/log" 2>&1
rc=$?
f=$(csv_in "$T/out")
check "unreadable RAPL: collect still exits 0" test "$rc" -eq 0
check "unreadable RAPL: exactly one warning" test "$(grep -c 'rapl: .*energy_uj is readable by root only' "$T/log")" -eq 1
check "the warning gives the udev rule and the reload command" grep -q 'SUBSYSTEM=="powercap".*chmod g+r.*udevadm control --reload-rules' "$T/log"
check "rapl_status says unreadable on every row" test "$(col_values "$f" rapl_status | sort -u)" = "unreadable"
check "cpu_pkg_w is empty, not 0" test -z "$(col_values "$f" cpu_pkg_w | sort -u)"
check "temperatures are still read" test -n "$(col_values "$f" cpu_pkg_temp_c | head -n1)"
"${as_user[@]}" "$GPUTEL" gpus >"$T/gpus" 2>&1
check "gpus says RAPL is unreadable and where the fix is" grep -q "rapl unreadable (gputel doctor gives the fix)" "$T/gpus"
"${as_user[@]}" "$GPUTEL" gpus -v >"$T/gpus" 2>&1
check "gpus -v shows the zones as not readable" grep -q "rapl: unreadable: intel-rapl:0 (package-0, NOT readable)" "$T/gpus"
finish
