# Shared by bench/otlp_*.sh (sourced, bash): a temp directory, a collector
# as the OTLP sink, the agent on simulated GPUs with a kernel log of the
# script's own, and the cleanup of everything they start.  Loopback only.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
B=${BUILD:-build}
T=$(mktemp -d /tmp/gputel-otlp-bench.XXXXXX)
chmod 755 "$T"
PIDS=()
BENCH_WORKTREE=   # a git worktree the script added (otlp_footprint.sh): removed at exit
bench_cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
	if [ -n "$BENCH_WORKTREE" ]; then
		git worktree remove --force "$BENCH_WORKTREE" 2>/dev/null
	fi
	rm -rf "$T"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
# Nothing of the caller's OpenTelemetry settings leaks into the agents.
for v in $(env | sed -n 's/^\(OTEL_[A-Z_]*\)=.*/\1/p; s/^\(JN_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

OTELCOL=${GPUTEL_OTELCOL:-$(scripts/otelcol.sh --print 2>/dev/null | tail -n1)}
if [ -z "$OTELCOL" ] || [ ! -x "$OTELCOL" ]; then
	echo "bench: no OpenTelemetry Collector: run scripts/otelcol.sh (or set GPUTEL_OTELCOL)" >&2
	exit 1
fi
[ -x "$B/gputel" ] && [ -f "$B/libnvidia-ml-sim.so" ] || { echo "bench: run make first" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# CPU time of a process in clock ticks (utime + stime, every thread, exited ones too).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# CPU time of a process's live threads in ns (schedstat: exact, not sampled at the tick).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'; }
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# start_sink DIR: the collector that stands for the upstream, as the tests
# run it (tests/otelcol/sink.yaml): OTLP/HTTP on a free loopback port, every
# log record written as OTLP/JSON, one request a line, to DIR/logs.json.
# Sets SINK_PID and SINK_HTTP.
start_sink() {
	local dir=$1 http hc i
	mkdir -p "$dir"
	http=$(free_port)
	hc=$(free_port)
	while [ "$hc" = "$http" ]; do hc=$(free_port); done
	SINK_DIR=$dir SINK_HTTP_PORT=$http SINK_HEALTH_PORT=$hc "$OTELCOL" --config "$PWD/tests/otelcol/sink.yaml" \
		>"$dir/otelcol.log" 2>&1 &
	SINK_PID=$!
	PIDS+=("$SINK_PID")
	SINK_HTTP="http://127.0.0.1:$http"
	for ((i = 0; i < 300; i++)); do
		curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$hc/" && return 0
		kill -0 "$SINK_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: the collector did not come up; $dir/otelcol.log:" >&2
	tail -n 5 "$dir/otelcol.log" >&2
	exit 1
}

# agent_env DIR GPUS: simulated GPUs (the fixture's bus addresses
# 0000:18:00, 0000:28:00, ...), the Intel host fixture, a procfs root of
# our own for the boot id, and an empty kernel log (never the host's).
agent_env() {
	local dir=$1
	mkdir -p "$dir/proc/sys/kernel/random"
	cp tests/fixtures/intel/proc/stat tests/fixtures/intel/proc/meminfo "$dir/proc/"
	echo 0b3d5a9e-6c1f-4a8e-9d2b-7f0e1c2a3b4d >"$dir/proc/sys/kernel/random/boot_id"
	export GPUTEL_NVML_LIBRARY=$PWD/$B/libnvidia-ml-sim.so GPUTEL_SIM_GPUS=${2:-2}
	export GPUTEL_SIM_SCENARIO=${SIM_SCENARIO:-$PWD/sim/scenarios/steady.scn}
	export GPUTEL_SYSFS_ROOT=$PWD/tests/fixtures/intel/sys GPUTEL_PROCFS_ROOT=$dir/proc
	: >"$dir/kmsg.none"
	export GPUTEL_KMSG=$dir/kmsg.none
	unset GPUTEL_GPU_BACKEND GPUTEL_NVIDIA_SMI
}

# start_agent BIN DIR [ARGS...]: an agent with its own out, state and
# /metrics port (loopback); logs to DIR/agent.log. Sets AGENT_PID, AGENT_METRICS.
start_agent() {
	local bin=$1 dir=$2 port
	shift 2
	mkdir -p "$dir/out" "$dir/state"
	port=$(free_port)
	"$bin" agent --config /dev/null --out-dir "$dir/out" --state-dir "$dir/state" \
		--exporter-bind 127.0.0.1 --exporter-port "$port" "$@" >>"$dir/agent.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
	AGENT_METRICS="http://127.0.0.1:$port/metrics"
	for ((i = 0; i < 100; i++)); do
		curl -sf -o /dev/null --max-time 1 "$AGENT_METRICS" && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: the agent did not come up; $dir/agent.log:" >&2
	tail -n 5 "$dir/agent.log" >&2
	exit 1
}

# metric URL NAME-WITH-LABELS: one value from /metrics (0 when absent).
metric() { curl -s --max-time 2 "$1" | awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }'; }

# What was measured, as it stood when the script started: HEAD, whether src/
# differed from it, and when the agent binary was built.
BENCH_REV="$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo '+uncommitted src')"
BENCH_BUILT=$(date -u -r "$B/gputel" +%Y-%m-%dT%H:%M:%SZ)
machine_line() {
	echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(uname -r);" \
		"gputel $BENCH_REV (build/gputel built $BENCH_BUILT); collector $("$OTELCOL" --version 2>/dev/null | awk '{ print $NF }')"
}
