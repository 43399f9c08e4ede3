# Shared helpers for the integration tests (sourced, bash).
# Each test prints TAP lines; every process a test starts is stopped by
# cleanup, and all files live under a fresh temp directory.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
GPUTEL="$BUILD/gputel"
SIM_LIB="$BUILD/libnvidia-ml-sim.so"
SIM_LIB_OLD="$BUILD/libnvidia-ml-sim-r418.so"
FAKE_SMI_DIR="$BUILD/fake-smi"
SCN="$ROOT/sim/scenarios"
FIX="$ROOT/tests/fixtures"
T=$(mktemp -d /tmp/gputel-it.XXXXXX)
chmod 755 "$T"
PIDS=()
N_FAIL=0
# Agents read this empty kernel log, never the host's /dev/kmsg (tests that
# want kernel events point GPUTEL_KMSG at a fixture of their own).
: >"$T/kmsg.none"
export GPUTEL_KMSG="$T/kmsg.none"

cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	grep -qs " $T/" /proc/mounts && umount -l "$T"/* 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; N_FAIL=$((N_FAIL + 1)); }

# check "description" command...: ok when the command succeeds.
check() {
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# Environment for the simulated driver and a host fixture (intel|amd).
use_sim() {
	export GPUTEL_NVML_LIBRARY="$SIM_LIB"
	export GPUTEL_SIM_GPUS=${1:-2}
	export GPUTEL_SIM_SCENARIO=${2:-$SCN/steady.scn}
	use_host "${3:-intel}"
	unset GPUTEL_GPU_BACKEND GPUTEL_NVIDIA_SMI
}

use_host() {
	export GPUTEL_SYSFS_ROOT="$FIX/$1/sys"
	export GPUTEL_PROCFS_ROOT="$FIX/$1/proc"
}

# The single CSV file in a directory.
csv_in() { ls "$1"/gpu_telemetry_*.csv 2>/dev/null | head -n1; }

# Column number (1-based) of a header name in a CSV file.
col() { head -n1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }

# Values of one column for the rows where gpu_index == $3 (all rows when empty).
col_values() {
	local f=$1 c i
	c=$(col "$f" "$2")
	i=$(col "$f" gpu_index)
	awk -F, -v c="$c" -v i="$i" -v g="${3:-}" 'NR > 1 && (g == "" || $i == g) { print $c }' "$f"
}

# Data rows whose field count differs from the header's: torn or broken rows.
bad_rows() {
	awk -F, 'NR == 1 { n = NF; next } /^timestamp,/ { next } NF != n { bad++ } END { print bad + 0 }' "$@"
}

# Waits until a file contains a pattern (max $3 seconds, default 10).
wait_for() {
	local f=$1 pat=$2 t=${3:-10} i
	for ((i = 0; i < t * 10; i++)); do
		grep -qs -- "$pat" "$f" && return 0
		sleep 0.1
	done
	return 1
}

# Runs gputel collect in the background; sets COLLECT_PID. Args: log-file, collect args...
start_collect() {
	local log=$1
	shift
	"$GPUTEL" collect "$@" >"$log" 2>&1 &
	COLLECT_PID=$!
	PIDS+=("$COLLECT_PID")
}

finish() {
	[ "$N_FAIL" -eq 0 ]
}

# control_ready SOCK [TENTHS]: waits up to TENTHS tenths of a second
# (default 50) for the agent's control socket to answer; 1 if it never does.
control_ready() {
	local i
	for ((i = 0; i < ${2:-50}; i++)); do
		[ -S "$1" ] && curl -s --unix-socket "$1" -o /dev/null http://x/v1/status && return 0
		sleep 0.1
	done
	return 1
}

# A TCP port on loopback that nothing listens on now.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- a real OpenTelemetry Collector as an OTLP peer ----
# scripts/otelcol.sh builds it into a cache outside the checkout; .ci/run
# exports its path as GPUTEL_OTELCOL, and without that variable the path is
# asked of scripts/otelcol.sh --print.
#
# start_otelcol DIR: starts a collector whose OTLP/HTTP receiver listens on
# 127.0.0.1 (no gRPC) and whose file exporters write what it receives as
# OTLP/JSON, one request a line, to DIR/logs.json, DIR/traces.json and
# DIR/metrics.json (appended to, flushed every 100 ms): tests/otelcol/sink.yaml.
# It picks free ports the first time (kept in DIR/ports) and listens on the
# same ports when started again on the same DIR. Waits up to 30 s for the
# health_check extension to answer. Sets OTELCOL_PID, OTELCOL_HTTP
# (http://127.0.0.1:PORT, POST to /v1/logs, /v1/traces, /v1/metrics),
# OTELCOL_HEALTH (its health URL) and OTELCOL_LOG (DIR/otelcol.log, its
# own output). Returns 1, with the log's tail as TAP comments, if it does not
# come up. A collector that is not built fails the test at once, saying how
# to build it. cleanup stops it if the test does not.
start_otelcol() {
	local dir=$1 bin http hc i
	bin=${GPUTEL_OTELCOL:-$("$ROOT/scripts/otelcol.sh" --print 2>/dev/null | tail -n1)}
	if [ -z "$bin" ] || [ ! -x "$bin" ]; then
		not_ok "no OpenTelemetry Collector${bin:+ at $bin}: run scripts/otelcol.sh (it builds one and prints its path) or set GPUTEL_OTELCOL to a collector binary"
		exit 1
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# Its ports are kept beside what it writes, so that a restart listens where the agent sends.
	if [ ! -f "$dir/ports" ]; then
		http=$(free_port)
		hc=$(free_port)
		while [ "$hc" = "$http" ]; do hc=$(free_port); done
		echo "$http $hc" >"$dir/ports"
	fi
	read -r http hc <"$dir/ports"
	OTELCOL_HTTP="http://127.0.0.1:$http"
	OTELCOL_HEALTH="http://127.0.0.1:$hc/"
	OTELCOL_LOG="$dir/otelcol.log"
	SINK_DIR=$dir SINK_HTTP_PORT=$http SINK_HEALTH_PORT=$hc "$bin" --config "$ROOT/tests/otelcol/sink.yaml" \
		>>"$OTELCOL_LOG" 2>&1 &
	OTELCOL_PID=$!
	PIDS+=("$OTELCOL_PID")
	for ((i = SECONDS + 30; SECONDS < i; )); do
		curl -sf -o /dev/null --max-time 1 "$OTELCOL_HEALTH" && return 0
		pid_alive "$OTELCOL_PID" || break
		sleep 0.1
	done
	echo "# the collector did not answer on $OTELCOL_HEALTH; the end of $OTELCOL_LOG:"
	tail -n 5 "$OTELCOL_LOG" | sed 's/^/#   /'
	stop_otelcol
	return 1
}

# stop_process PID [SECONDS]: SIGTERM, then SIGKILL if it is still there
# after SECONDS (default 15); waits for it and takes it out of PIDS. 1 if it
# had to be killed.
stop_process() {
	local pid=$1 i rc=0 p rest=()
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < ${2:-15} * 10; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	if pid_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		rc=1
	fi
	wait "$pid" 2>/dev/null
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && [ "$p" != "$pid" ] && rest+=("$p")
	done
	PIDS=("${rest[@]:-}")
	return $rc
}

# stop_otelcol: stops the collector of start_otelcol (stop_process, 10 s).
stop_otelcol() {
	local rc=0
	stop_process "${OTELCOL_PID:-}" 10 || rc=1
	OTELCOL_PID=
	return $rc
}

# pid_alive PID: the process exists and has not exited (a zombie that is
# not waited for yet counts as gone).
pid_alive() {
	local s
	s=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$s" ] && [ "${s%% *}" != Z ]
}
