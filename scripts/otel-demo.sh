#!/bin/bash
# make otel-demo: the node's OpenTelemetry path on this machine, on loopback
# and without containers:
#
#   gputel agent (2 simulated GPUs, sim/scenarios/xid.scn, a kernel log
#   written here) --OTLP/HTTP--> node collector (packaging/otel/
#   node-collector-config.yaml, also tailing a kern.log written here)
#   --OTLP/gRPC--> central collector (central-collector-config.yaml)
#   --OTLP/HTTP--> a sink collector standing in for Tempo and Loki, which
#   writes what it gets as OTLP/JSON to sink/logs.json and sink/traces.json.
#
# The collectors run the shipped configurations under their env files'
# defaults, with only the ports (free loopback ports), the state
# directories, the log files and the upstream addresses overridden. The
# collector is the one scripts/otelcol.sh builds (official builder, the
# pinned release); it builds it if it is not there.
#
# What happens: the kernel log holds three Xids from the start, a job runs
# under `gputel run` (its allocation's span, and the job's own span sent to
# the node with service.name=demo-app, in the same trace), and every 5 s a
# new Xid goes to the agent's kernel log and an NVRM line to kern.log. Each
# log record and span that reaches the sink is printed as it arrives.
# Ctrl-C (or the end of --duration) stops every process; the temp directory
# under /tmp goes too, unless --keep.
#
# Usage: scripts/otel-demo.sh [--duration SECONDS] [--keep]
set -u
cd "$(dirname "$0")/.." || exit 2
usage="usage: scripts/otel-demo.sh [--duration SECONDS] [--keep]"
duration=0
keep=false
while [ $# -gt 0 ]; do
	case $1 in
	--duration)
		[ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "otel-demo: --duration needs a whole number of seconds; $usage" >&2; exit 2; }
		duration=$2
		shift 2
		;;
	--keep) keep=true; shift ;;
	-h | --help) echo "$usage"; exit 0 ;;
	*) echo "otel-demo: unknown option '$1'; $usage" >&2; exit 2 ;;
	esac
done

BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
if [ ! -x "$BUILD/gputel" ] || [ ! -f "$BUILD/libnvidia-ml-sim.so" ]; then
	echo "otel-demo: $BUILD/gputel or the simulated driver is missing: run make first (or make otel-demo)" >&2
	exit 2
fi
for c in curl python3; do
	command -v "$c" >/dev/null || { echo "otel-demo: '$c' is missing: scripts/deps.sh --demo installs it" >&2; exit 2; }
done
otelcol=${GPUTEL_OTELCOL:-$(scripts/otelcol.sh --print 2>/dev/null | tail -n1)}
if [ -z "$otelcol" ] || [ ! -x "$otelcol" ]; then
	echo "otel-demo: building the OpenTelemetry Collector with scripts/otelcol.sh (the first time this may take ~2 minutes)"
	otelcol=$(scripts/otelcol.sh | tail -n1)
	[ -n "$otelcol" ] && [ -x "$otelcol" ] || { echo "otel-demo: scripts/otelcol.sh did not build the collector" >&2; exit 2; }
fi

dir=$(mktemp -d /tmp/gputel-otel-demo.XXXXXX) || exit 2
chmod 755 "$dir"
PIDS=()
cleanup() {
	local p i
	trap - INT TERM
	# The agent first, the sink last: each stops after what feeds it.
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null || continue
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if $keep; then
		echo "otel-demo: stopped; the files are kept in $dir (rm -r $dir removes them)"
	else
		rm -rf "$dir"
		echo "otel-demo: stopped; $dir removed (--keep keeps it)"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Nothing of the caller's OpenTelemetry or gputel settings leaks in.
for v in $(env | sed -n 's/^\(OTEL_[A-Z_]*\)=.*/\1/p; s/^\(JN_[A-Z_]*\)=.*/\1/p; s/^\(GPUTEL_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset NODE_NAME

# ports N: N free loopback ports, distinct (bound together), on one line.
ports() { python3 -c 'import socket, sys; ss = [socket.socket() for _ in range(int(sys.argv[1]))]; [s.bind(("127.0.0.1", 0)) for s in ss]; print(*(s.getsockname()[1] for s in ss))' "$1"; }
# up NAME PID URL LOG: waits up to 30 s for a health check to answer.
up() {
	local i
	for ((i = SECONDS + 30; SECONDS < i; )); do
		curl -sf -o /dev/null --max-time 1 "$3" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "otel-demo: the $1 did not come up; the end of $4:" >&2
	tail -n 5 "$4" >&2
	exit 1
}
# shipped ENVFILE CONFIG LOG VAR=VALUE...: a collector on a shipped
# configuration, its env file's defaults, and these overrides.
shipped() {
	local envfile=$1 cfg=$2 log=$3
	shift 3
	env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$envfile" \
		env "$@" "$otelcol" --config="$cfg" >"$log" 2>&1 &
}

read -r S_HTTP S_HC C_GRPC C_HTTP C_MET C_HC N_GRPC N_HTTP N_MET N_HC A_MET <<<"$(ports 11)"
mkdir -p "$dir/sink" "$dir/central" "$dir/node" "$dir/log" "$dir/agent/out" "$dir/agent/state"

# The kernel logs: the agent's (the /dev/kmsg record format, read at each
# tick) and the node's kern.log (syslog lines; the collector keeps only the
# NVIDIA driver's).
boot_us() { awk '{ printf "%d\n", $1 * 1000000 }' /proc/uptime; }
kseq=100
kxid() { # BUS CODE TEXT
	kseq=$((kseq + 1))
	printf '3,%d,%d,-;NVRM: Xid (PCI:%s): %s, %s\n' "$kseq" "$(boot_us)" "$1" "$2" "$3" >>"$dir/agent/kmsg"
}
kline=0
kernlog() { # TEXT
	kline=$((kline + 1))
	echo "$(date +%Y-%m-%dT%H:%M:%S.%6N%:z) $(hostname) kernel: $1" >>"$dir/log/kern.log"
}
: >"$dir/agent/kmsg"
kxid 0000:18:00 13 "pid=4242, name=python3, Graphics Exception: ESR 0x405040=0x1"
kxid 0000:28:00 31 "pid=4242, name=python3, Ch 00000010, intr 00000000. MMU Fault"
kxid 0000:28:00 48 "pid='<unknown>', name=<unknown>, An uncorrectable double bit error"
: >"$dir/log/kern.log"
kernlog "usb 1-1: new high-speed USB device number 3 using xhci_hcd"
kernlog "NVRM: Xid (PCI:0000:18:00): 13, pid=4242, name=python3, Graphics Exception: ESR 0x405040=0x1"

echo "otel-demo: files in $dir"
echo "otel-demo: the sink (stands in for Tempo and Loki), OTLP/HTTP on 127.0.0.1:$S_HTTP"
SINK_DIR=$dir/sink SINK_HTTP_PORT=$S_HTTP SINK_HEALTH_PORT=$S_HC "$otelcol" --config "$PWD/tests/otelcol/sink.yaml" \
	>"$dir/sink/otelcol.log" 2>&1 &
PIDS=("$!" "${PIDS[@]}")
up sink "$!" "http://127.0.0.1:$S_HC/" "$dir/sink/otelcol.log"

echo "otel-demo: the central collector (packaging/otel/central-collector-config.yaml), OTLP/gRPC on 127.0.0.1:$C_GRPC, self-metrics on :$C_MET"
shipped packaging/otel/central.env "$PWD/packaging/otel/central-collector-config.yaml" "$dir/central/otelcol.log" \
	OTEL_CENTRAL_GRPC_ENDPOINT=127.0.0.1:$C_GRPC OTEL_CENTRAL_HTTP_ENDPOINT=127.0.0.1:$C_HTTP \
	OTEL_METRICS_PORT=$C_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$C_HC STATE_DIRECTORY="$dir/central" \
	TEMPO_ENDPOINT=http://127.0.0.1:$S_HTTP LOKI_OTLP_ENDPOINT=http://127.0.0.1:$S_HTTP
PIDS=("$!" "${PIDS[@]}")
up "central collector" "$!" "http://127.0.0.1:$C_HC/" "$dir/central/otelcol.log"

echo "otel-demo: the node collector (packaging/otel/node-collector-config.yaml), OTLP on 127.0.0.1:$N_GRPC (gRPC) and :$N_HTTP (HTTP), self-metrics on :$N_MET, tailing $dir/log/kern.log"
shipped packaging/otel/node.env "$PWD/packaging/otel/node-collector-config.yaml" "$dir/node/otelcol.log" \
	OTEL_NODE_GRPC_ENDPOINT=127.0.0.1:$N_GRPC OTEL_NODE_HTTP_ENDPOINT=127.0.0.1:$N_HTTP \
	OTEL_METRICS_PORT=$N_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$N_HC STATE_DIRECTORY="$dir/node" \
	OTEL_UPSTREAM_ENDPOINT=127.0.0.1:$C_GRPC DEPLOYMENT_ENVIRONMENT=demo \
	"OTEL_KERNEL_LOG_FILES=[$dir/log/kern.log,$dir/log/kern.log.1]" \
	"OTEL_NVIDIA_LOG_FILES=[$dir/log/nvidia-installer.log]"
PIDS=("$!" "${PIDS[@]}")
up "node collector" "$!" "http://127.0.0.1:$N_HC/" "$dir/node/otelcol.log"

echo "otel-demo: gputel agent on 2 simulated GPUs (sim/scenarios/xid.scn), kernel log $dir/agent/kmsg, OTLP to the node, /metrics on 127.0.0.1:$A_MET"
GPUTEL_NVML_LIBRARY=$BUILD/libnvidia-ml-sim.so GPUTEL_SIM_GPUS=2 GPUTEL_SIM_SCENARIO=$PWD/sim/scenarios/xid.scn \
	GPUTEL_SYSFS_ROOT=$PWD/tests/fixtures/intel/sys GPUTEL_PROCFS_ROOT=/proc GPUTEL_KMSG=$dir/agent/kmsg \
	"$BUILD/gputel" agent --config /dev/null --out-dir "$dir/agent/out" --state-dir "$dir/agent/state" \
	--control-socket "$dir/agent/control.sock" --exporter-bind 127.0.0.1 --exporter-port "$A_MET" \
	--otlp-endpoint "http://127.0.0.1:$N_HTTP" >"$dir/agent/agent.log" 2>&1 &
PIDS=("$!" "${PIDS[@]}")
up agent "$!" "http://127.0.0.1:$A_MET/metrics" "$dir/agent/agent.log"
for ((i = 0; i < 50; i++)); do
	[ -S "$dir/agent/control.sock" ] && break
	sleep 0.1
done

# The job: gputel run holds GPU 0 for 2 s; the job sends a span of its own
# (service.name=demo-app) to the node, a child of the allocation's span
# (gputel run gives the job TRACEPARENT).
cat >"$dir/job.py" <<'PY'
import json, os, random, sys, time, urllib.request
start = time.time_ns()
time.sleep(2)
_, trace, parent, _ = os.environ["TRACEPARENT"].split("-")
span = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "demo-app"}}]},
        "scopeSpans": [{"scope": {"name": "demo-app"}, "spans": [{"traceId": trace, "spanId": "%016x" % random.getrandbits(64),
        "parentSpanId": parent, "name": "train-step", "kind": 1, "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(time.time_ns())}]}]}]}
req = urllib.request.Request(sys.argv[1] + "/v1/traces", json.dumps(span).encode(), {"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).read()
PY
TRACEPARENT="00-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')-01" \
	"$BUILD/gputel" run --id demo-job --gpus 0 --socket "$dir/agent/control.sock" -o "$dir/job-summary.txt" -- \
	python3 "$dir/job.py" "http://127.0.0.1:$N_HTTP" &
PIDS=("$!" "${PIDS[@]}")
echo "otel-demo: a job runs under 'gputel run --id demo-job --gpus 0' for 2 s and sends its own span (service.name=demo-app)"

# show: prints the records and spans that reached the sink since the last call.
cat >"$dir/show.py" <<'PY'
import json, os, sys
sink, state = sys.argv[1], sys.argv[2]
try:
    pos = json.load(open(state))
except (OSError, ValueError):
    pos = {}
n = pos.setdefault("count", {"logs": 0, "spans": 0})
def val(v):
    for k in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    return ""
def attrs(lst):
    return {a["key"]: val(a.get("value", {})) for a in lst or []}
def new_lines(name):
    try:
        with open(os.path.join(sink, name), "rb") as f:
            f.seek(pos.get(name, 0))
            data = f.read()
    except FileNotFoundError:
        return []
    data = data[:data.rfind(b"\n") + 1]   # whole lines only
    pos[name] = pos.get(name, 0) + len(data)
    return [json.loads(l) for l in data.splitlines() if l.strip()]
def who(res):
    return "service.name=%s host_role=%s host.name=%s" % (
        res.get("service.name"), res.get("justnews.gpu.host_role"), res.get("host.name"))
for d in new_lines("logs.json"):
    for rl in d.get("resourceLogs", []):
        res = attrs(rl.get("resource", {}).get("attributes"))
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                a = attrs(r.get("attributes"))
                n["logs"] += 1
                src = "kern.log" if a.get("log.file.name") else "gputel " + r.get("eventName", "")
                print("otel-demo: log  | %-19s | %s | %-5s | %s" % (src, who(res), r.get("severityText", ""), val(r.get("body", {}))))
for d in new_lines("traces.json"):
    for rs in d.get("resourceSpans", []):
        res = attrs(rs.get("resource", {}).get("attributes"))
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                n["spans"] += 1
                a = attrs(s.get("attributes"))
                ms = (int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])) / 1e6
                extra = ""
                if "gputel.allocation.id" in a:
                    extra = " allocation %s, GPU energy %.0f J, Xids %s" % (
                        a["gputel.allocation.id"], float(a.get("gputel.gpu.energy_joules", 0)), a.get("gputel.gpu.xid_count"))
                elif "gputel.period.number" in a:
                    extra = " period %s (%s)" % (a["gputel.period.number"], a.get("gputel.period.reason"))
                print("otel-demo: span | %-19s | %s | trace %s span %s parent %s | %.0f ms%s" % (
                    s["name"], who(res), s["traceId"], s["spanId"], s.get("parentSpanId") or "-", ms, extra))
json.dump(pos, open(state, "w"))
if sys.argv[3:] == ["--total"]:
    print("otel-demo: in the sink: %d log records and %d spans" % (n["logs"], n["spans"]))
PY
show() { python3 "$dir/show.py" "$dir/sink" "$dir/show.state"; }

hints() {
	cat <<EOF
  jq -c '.resourceLogs[] | [(.resource.attributes[] | select(.key == "service.name" or .key == "justnews.gpu.host_role") | .value.stringValue), .scopeLogs[].logRecords[].body.stringValue]' $dir/sink/logs.json
  jq -c '.resourceSpans[].scopeSpans[].spans[] | [.name, .traceId, .parentSpanId]' $dir/sink/traces.json
  curl -s http://127.0.0.1:$N_MET/metrics | grep -E '^otelcol_(receiver_accepted|exporter_sent)'   # the node's self-metrics
EOF
}
echo "otel-demo: the data lands in $dir/sink/logs.json and $dir/sink/traces.json (OTLP/JSON, one request a line); from another terminal:"
hints
if [ "$duration" -gt 0 ]; then
	echo "otel-demo: running for $duration s; what reaches the sink:"
else
	echo "otel-demo: running until Ctrl-C, a new Xid every 5 s; what reaches the sink:"
fi
start=$SECONDS
next=$((SECONDS + 5))
while [ "$duration" -eq 0 ] || [ $((SECONDS - start)) -lt "$duration" ]; do
	sleep 1
	if [ "$SECONDS" -ge "$next" ]; then
		next=$((SECONDS + 5))
		kxid 0000:18:00 13 "pid=4242, name=python3, Graphics Exception: ESR 0x405040=0x$kseq"
		kernlog "NVRM: Xid (PCI:0000:28:00): 31, pid=4242, name=python3, Ch 0000000$((kline % 10)), MMU Fault (line $kline)"
	fi
	show
done
sleep 0.5
python3 "$dir/show.py" "$dir/sink" "$dir/show.state" --total
if $keep; then
	echo "otel-demo: to look at them again:"
	hints
fi
exit 0
