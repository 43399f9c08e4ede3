#!/bin/bash
# The whole chain of a GPU host, on loopback and without containers:
#   gputel agent (simulated GPUs, a kernel log fixture) --OTLP/HTTP-->
#   node collector (packaging/otel/node-collector-config.yaml, also tailing a
#   kern.log) --OTLP/gRPC--> central collector (central-collector-config.yaml)
#   --OTLP/HTTP--> a sink collector (start_otelcol) standing in for Tempo
#   and Loki.
# - a kernel Xid read by gputel and an NVRM line of kern.log read by the
#   node arrive as log records with justnews.gpu.host_role=node, this host's
#   host.name and host.id, and their own service.name (gputel, the node's
#   default); gputel's allocation span keeps service.name=gputel, and an
#   application's span sent to the node, a child of it, keeps myapp;
# - faults along the chain: the central collector stopped for 60 s while
#   gputel and kern.log go on producing; during it, the node restarted (gputel
#   queues and retries; the node's kern.log offsets resume) and kern.log
#   rotated: once the central collector is back, every record and span
#   arrives exactly once;
# - make otel-demo's script (scripts/otel-demo.sh --duration 15) runs the
#   same stack, prints the data lines and leaves no process behind. It runs
#   during the 60 s outage, on ports and a directory of its own.
# test_otel_configs.sh covers the configurations themselves (parsing,
# validate, units) and the node-only faults in depth.
. "$(dirname "$0")/lib.sh"

OTEL="$ROOT/packaging/otel"
bin=${GPUTEL_OTELCOL:-$("$ROOT/scripts/otelcol.sh" --print 2>/dev/null | tail -n1)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	not_ok "no OpenTelemetry Collector${bin:+ at $bin}: run scripts/otelcol.sh (it builds one and prints its path) or set GPUTEL_OTELCOL to a collector binary"
	exit 1
fi
unset NODE_NAME OTEL_SERVICE_NAME OTEL_RESOURCE_ATTRIBUTES OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_PROTOCOL
HOST=$(hostname)
MACHINE_ID=$(cat /etc/machine-id 2>/dev/null)

# ---- the sink, the central and the node collectors ----
# ports N: N free loopback ports, distinct (bound together), on one line.
ports() { python3 -c 'import socket, sys; ss = [socket.socket() for _ in range(int(sys.argv[1]))]; [s.bind(("127.0.0.1", 0)) for s in ss]; print(*(s.getsockname()[1] for s in ss))' "$1"; }
check "the sink collector starts" start_otelcol "$T/sink" || exit 1
SINK=$T/sink
read -r C_GRPC C_HTTP C_MET C_HC N_GRPC N_HTTP N_MET N_HC APORT <<<"$(ports 9)"
mkdir -p "$T/cstate" "$T/nstate" "$T/log"
CENTRAL_PID='' NODE_PID=''

healthy() { # PID URL LOG: up to 30 s for the health check
	local i
	for ((i = SECONDS + 30; SECONDS < i; )); do
		curl -sf -o /dev/null --max-time 1 "$2" && return 0
		pid_alive "$1" || break
		sleep 0.1
	done
	echo "# no answer on $2; the end of $3:"
	tail -n 5 "$3" | cut -c1-300 | sed 's/^/#   /'
	return 1
}
# The shipped configurations under their env files, with ports, state
# directories, log files and upstreams overridden.
start_central() {
	env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$OTEL/central.env" \
		env OTEL_CENTRAL_GRPC_ENDPOINT=127.0.0.1:$C_GRPC OTEL_CENTRAL_HTTP_ENDPOINT=127.0.0.1:$C_HTTP \
		OTEL_METRICS_PORT=$C_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$C_HC STATE_DIRECTORY="$T/cstate" \
		TEMPO_ENDPOINT="$OTELCOL_HTTP" LOKI_OTLP_ENDPOINT="$OTELCOL_HTTP" \
		"$bin" --config="$OTEL/central-collector-config.yaml" >>"$T/central.log" 2>&1 &
	CENTRAL_PID=$!
	PIDS+=("$CENTRAL_PID")
	healthy "$CENTRAL_PID" "http://127.0.0.1:$C_HC/" "$T/central.log"
}
start_node() {
	env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$OTEL/node.env" \
		env OTEL_NODE_GRPC_ENDPOINT=127.0.0.1:$N_GRPC OTEL_NODE_HTTP_ENDPOINT=127.0.0.1:$N_HTTP \
		OTEL_METRICS_PORT=$N_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$N_HC STATE_DIRECTORY="$T/nstate" \
		OTEL_UPSTREAM_ENDPOINT=127.0.0.1:$C_GRPC DEPLOYMENT_ENVIRONMENT=e2e \
		"OTEL_KERNEL_LOG_FILES=[$T/log/kern.log,$T/log/kern.log.1]" \
		"OTEL_NVIDIA_LOG_FILES=[$T/log/nvidia-installer.log]" \
		"$bin" --config="$OTEL/node-collector-config.yaml" >>"$T/node.log" 2>&1 &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
	healthy "$NODE_PID" "http://127.0.0.1:$N_HC/" "$T/node.log"
}

# kern.log: an NVRM Xid line and a line that is not the driver's (dropped).
KN=0 # kern.log NVRM lines written
kline() { # FILE TEXT: an NVRM Xid line, numbered in its text
	KN=$((KN + 1))
	echo "$(date +%Y-%m-%dT%H:%M:%S.%6N%:z) $HOST kernel: NVRM: Xid (PCI:0000:3b:00): 31, pid=$((1000 + KN)), name=train, Ch 00000010, MMU Fault, kern.log line $KN $2" >>"$1"
}
echo "$(date +%Y-%m-%dT%H:%M:%S.%6N%:z) $HOST kernel: e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex" >"$T/log/kern.log"
kline "$T/log/kern.log" "(before the start)"

check "the central collector starts on its shipped configuration" start_central
check "the node collector starts on its shipped configuration" start_node

# ---- the agent: 2 simulated GPUs (0000:18:00, 0000:28:00), its kernel log a file of ours ----
use_sim 2 "$SCN/steady.scn" intel
mkdir -p "$T/out" "$T/state"
KSEQ=0
kxid() { # BUS CODE TEXT: a kernel record in the /dev/kmsg format
	KSEQ=$((KSEQ + 1))
	printf '3,%d,%d,-;NVRM: Xid (PCI:%s): %s, %s\n' "$KSEQ" "$((KSEQ * 1000))" "$1" "$2" "$3" >>"$T/kmsg"
}
: >"$T/kmsg"
kxid 0000:18:00 13 "pid=2413, name=python3, Graphics Exception: ESR 0x405040=0x1"
kxid 0000:28:00 79 "pid='<unknown>', name=<unknown>, GPU has fallen off the bus."
kxid 0000:18:00 31 "pid=2413, name=python3, Ch 00000009, engmask 00000101, MMU Fault"
SOCK=$T/c.sock
GPUTEL_KMSG="$T/kmsg" "$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" \
	--control-socket "$SOCK" --exporter-bind 127.0.0.1 --exporter-port "$APORT" --poll-interval 0.1 \
	--start-util 90 --otlp-endpoint "http://127.0.0.1:$N_HTTP" >>"$T/agent.log" 2>&1 &
AG=$!
PIDS+=("$AG")
check "the agent answers on its control socket" control_ready "$SOCK"

# An allocation in an orchestrator's trace, and the application's own span
# (service.name=myapp), a child of the allocation's, sent to the node.
TRACE=4bf92f3577b34da6a3ce929d0e0e4736
"$GPUTEL" alloc begin e2e-job --gpus 0 --traceparent "00-$TRACE-00f067aa0ba902b7-01" --socket "$SOCK" --json >"$T/begin.json"
ALLOC_SPAN=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["traceparent"].split("-")[2])' "$T/begin.json")
now=$(date +%s%N)
cat >"$T/app-span.json" <<JSON
{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "myapp"}}]},
 "scopeSpans": [{"spans": [{"traceId": "$TRACE", "spanId": "eee19b7ec3c1b174", "parentSpanId": "$ALLOC_SPAN",
   "name": "train-step", "kind": 1, "startTimeUnixNano": "$now", "endTimeUnixNano": "$((now + 1000000))"}]}]}]}
JSON
check "the node takes the application's span over OTLP/HTTP" \
	test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
		--data-binary @"$T/app-span.json" "http://127.0.0.1:$N_HTTP/v1/traces")" = 200
sleep 0.3
"$GPUTEL" alloc end e2e-job --socket "$SOCK" >/dev/null

# What the sink holds, as Python: every log record and span with its resource.
cat >"$T/sink.py" <<'PY'
import collections, json, sys

def val(v):
    (k, x), = v.items() if v else (("", None),)
    return int(x) if k == "intValue" else x

def attrs(lst):
    return {a["key"]: val(a.get("value", {})) for a in lst or []}

def lines(path):
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    return [json.loads(l) for l in text.split("\n")[:-1] if l.strip()]   # whole lines only

def logs(sink):
    out = []
    for d in lines(sink + "/logs.json"):
        for rl in d["resourceLogs"]:
            res = attrs(rl.get("resource", {}).get("attributes"))
            for sl in rl["scopeLogs"]:
                for r in sl.get("logRecords", []):
                    out.append(dict(r, res=res, attrs=attrs(r.get("attributes")), text=val(r["body"])))
    return out

def spans(sink):
    out = []
    for d in lines(sink + "/traces.json"):
        for rs in d["resourceSpans"]:
            res = attrs(rs.get("resource", {}).get("attributes"))
            for ss in rs["scopeSpans"]:
                for s in ss.get("spans", []):
                    out.append(dict(s, res=res, attrs=attrs(s.get("attributes"))))
    return out

def gputel_seqs(sink):
    return collections.Counter(r["attrs"]["linux.kmsg.seq"] for r in logs(sink) if r["res"].get("service.name") == "gputel")

def kern_lines(sink):
    return collections.Counter(r["text"] for r in logs(sink) if r["attrs"].get("log.file.name"))

if __name__ == "__main__":
    # have SINK GPUTEL_RECORDS KERN_LINES SPAN_NAME=N...: the sink holds at least these
    sink, ng, nk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ok = len(gputel_seqs(sink)) >= ng and len(kern_lines(sink)) >= nk
    names = collections.Counter(s["name"] for s in spans(sink))
    for w in sys.argv[4:]:
        name, n = w.split("=")
        ok = ok and names[name] >= int(n)
    sys.exit(0 if ok else 1)
PY
export PYTHONPATH="$T"
# arrived SECONDS GPUTEL_RECORDS KERN_LINES [SPAN=N...]: waits until the sink holds them.
arrived() {
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do
		python3 "$T/sink.py" "$SINK" "$@" && return 0
		sleep 0.3
	done
	python3 "$T/sink.py" "$SINK" "$@"
}

check "gputel's 3 Xids, the kern.log line, the allocation's span and the application's span reach the sink" \
	arrived 30 3 1 gpu.allocation=1 train-step=1
check "gputel's Xid records: service.name=gputel, host_role=node, this host's host.name and host.id, the node's environment, Xid attributes intact" \
	python3 - "$SINK" "$HOST" "$MACHINE_ID" <<'PY'
import sys
from sink import *
recs = [r for r in logs(sys.argv[1]) if r["res"].get("service.name") == "gputel"]
assert sorted(r["attrs"]["linux.kmsg.seq"] for r in recs) == [1, 2, 3], recs
for r in recs:
    res, a = r["res"], r["attrs"]
    assert res["justnews.gpu.host_role"] == "node" and res["host.name"] == sys.argv[2], res
    assert not sys.argv[3] or res["host.id"] == sys.argv[3], res
    assert res["deployment.environment"] == "e2e" and res.get("service.version"), res
    assert r["eventName"] == "gpu.xid" and a["gputel.event.source"] == "kernel", r
    assert r["text"].startswith("NVRM: Xid (PCI:"), r["text"]
by = {r["attrs"]["linux.kmsg.seq"]: r for r in recs}
assert by[2]["attrs"]["nvidia.xid.code"] == 79 and by[2]["severityText"] == "FATAL", by[2]
assert by[2]["attrs"]["nvidia.xid.name"] == "GPU_HAS_FALLEN_OFF_THE_BUS" and by[2]["attrs"]["gpu.pci_bus_id"] == "0000:28:00", by[2]
assert by[1]["attrs"]["process.pid"] == 2413 and by[1]["attrs"]["gpu.uuid"].startswith("GPU-"), by[1]
PY
check "the kern.log line: host_role=node, this host's host.name, service.name of the node, parsed (Xid, bus id); the other kernel line dropped" \
	python3 - "$SINK" "$HOST" "$MACHINE_ID" <<'PY'
import sys
from sink import *
recs = [r for r in logs(sys.argv[1]) if r["attrs"].get("log.file.name")]
assert len(recs) == 1, [r["text"] for r in recs]
r = recs[0]
res, a = r["res"], r["attrs"]
assert res["justnews.gpu.host_role"] == "node" and res["host.name"] == sys.argv[2], res
assert not sys.argv[3] or res["host.id"] == sys.argv[3], res
assert res["service.name"] == "justnews-node" and res["deployment.environment"] == "e2e", res
assert a == {"log.file.name": "kern.log", "nvidia.xid.code": 31, "gpu.pci_bus_id": "00000000:3B:00.0", "process.pid": 1001}, a
assert r["text"].startswith("NVRM: Xid (PCI:0000:3b:00): 31,") and r["severityText"] == "ERROR", r
PY
check "gputel's allocation span keeps service.name=gputel, in the orchestrator's trace; the application's span, its child, keeps myapp" \
	python3 - "$SINK" "$TRACE" "$ALLOC_SPAN" "$HOST" <<'PY'
import sys
from sink import *
trace, alloc_id, host = sys.argv[2:5]
ss = spans(sys.argv[1])
a, = [s for s in ss if s["name"] == "gpu.allocation"]
assert a["res"]["service.name"] == "gputel" and a["res"]["justnews.gpu.host_role"] == "node", a["res"]
assert a["res"]["host.name"] == host and a["res"]["deployment.environment"] == "e2e", a["res"]
assert a["traceId"] == trace and a["spanId"] == alloc_id and a["parentSpanId"] == "00f067aa0ba902b7", a
assert a["attrs"]["gputel.allocation.id"] == "e2e-job" and a["attrs"]["gpu.count"] == 1, a["attrs"]
m, = [s for s in ss if s["name"] == "train-step"]
assert m["res"]["service.name"] == "myapp" and m["res"]["justnews.gpu.host_role"] == "node", m["res"]
assert m["res"]["host.name"] == host, m["res"]
assert m["traceId"] == trace and m["parentSpanId"] == alloc_id, m
PY

# ---- faults: the central collector away for 60 s ----
# While it is away, gputel and kern.log go on: a kernel Xid and a kern.log
# line every 3 s; the node restarts at 12 s (gputel's records wait in its
# queue, kern.log lines in the file); kern.log rotates at 33 s; an
# allocation begins and ends at 40 s. The demo runs meanwhile.
before=$(python3 -c 'import sys; from sink import *; print(len(logs(sys.argv[1])), len(spans(sys.argv[1])))' "$SINK")
check "the central collector stops" stop_process "$CENTRAL_PID"
down=$SECONDS

setsid "$ROOT/scripts/otel-demo.sh" --duration 15 >"$T/demo.out" 2>&1 &
DEMO=$!
PIDS+=("$DEMO")

node_stopped=false node_restarted=false rotated=false alloc_done=false queued=none
while [ $((SECONDS - down)) -lt 60 ]; do
	t=$((SECONDS - down))
	if [ $((t % 3)) -eq 0 ] && [ "$t" -gt 0 ]; then
		kxid 0000:28:00 48 "pid=3000, name=train, An uncorrectable double bit error (outage, at ${t} s)"
		kline "$T/log/kern.log" "(outage, at ${t} s)"
	fi
	if [ "$t" -ge 12 ] && ! $node_stopped; then
		node_stopped=true
		check "during the outage, the node collector stops on SIGTERM" stop_process "$NODE_PID"
		# Written while it is away: gputel queues its record, kern.log keeps its line.
		kxid 0000:18:00 13 "pid=3001, name=train, Graphics Exception (while the node was stopped)"
		kline "$T/log/kern.log" "(while the node was stopped)"
	fi
	if [ "$t" -ge 18 ] && ! $node_restarted; then
		node_restarted=true
		check "... and starts again 6 s later" start_node
	fi
	if [ "$t" -ge 33 ] && ! $rotated; then
		rotated=true
		mv "$T/log/kern.log" "$T/log/kern.log.1"
		kline "$T/log/kern.log.1" "(late line of the rotated file)"
		kline "$T/log/kern.log" "(first line of the new file)"
	fi
	if [ "$t" -ge 40 ] && ! $alloc_done; then
		alloc_done=true
		"$GPUTEL" alloc begin outage-job --gpus 1 --socket "$SOCK" >/dev/null
		sleep 0.5
		"$GPUTEL" alloc end outage-job --socket "$SOCK" >/dev/null
	fi
	# Just before the end of the outage: what the node holds.
	if [ "$t" -ge 57 ] && [ "$queued" = none ]; then
		queued=$(curl -sf --max-time 2 "http://127.0.0.1:$N_MET/metrics" |
			awk '/^otelcol_exporter_queue_size\{/ { n += $2 } END { print n + 0 }')
	fi
	sleep 1
done
during=$(python3 -c 'import sys; from sink import *; print(len(logs(sys.argv[1])), len(spans(sys.argv[1])))' "$SINK")
check "nothing reached the sink while the central collector was away ($before before, $during after)" test "$before" = "$during"
check "the node held the outage's batches in its upstream queue (otelcol_exporter_queue_size: $queued)" test "${queued:-0}" -gt 0 2>/dev/null
check "the central collector starts again" start_central
up=$SECONDS
GN=$KSEQ
# The node's queue drains once its gRPC connection is back up and its retry
# timers come round: the gRPC reconnect backoff (up to 120 s, +/- 20 %) and the
# exporter's retry interval (up to 30 s, +/- 50 %) both grew during the
# outage. 19 to 66 s in this test's runs so far.
check "within 200 s, the sink holds all $GN of gputel's Xids, all $KN kern.log lines and both allocations' spans" \
	arrived 200 "$GN" "$KN" gpu.allocation=2
echo "# everything arrived $((SECONDS - up)) s after the central collector came back"
sleep 2.5   # a duplicate would come within the batch delays of node and central
check "gputel's Xids: each of the $GN exactly once" python3 - "$SINK" "$GN" <<'PY'
import sys
from sink import *
c = gputel_seqs(sys.argv[1])
assert sorted(c) == list(range(1, int(sys.argv[2]) + 1)), sorted(c)
assert all(n == 1 for n in c.values()), {s: n for s, n in c.items() if n != 1}
PY
check "kern.log: each of the $KN NVRM lines exactly once: written while the node was stopped (offsets resumed), and around the rotation" \
	python3 - "$SINK" "$KN" <<'PY'
import re, sys
from sink import *
c = kern_lines(sys.argv[1])
nums = sorted(int(re.search(r"kern.log line (\d+) ", t).group(1)) for t in c)
assert nums == list(range(1, int(sys.argv[2]) + 1)), nums
assert all(n == 1 for n in c.values()), {t: n for t, n in c.items() if n != 1}
for w in ("(while the node was stopped)", "(late line of the rotated file)", "(first line of the new file)"):
    assert sum(w in t for t in c) == 1, w
PY
check "the spans: each once, the outage's allocation with service.name=gputel" python3 - "$SINK" <<'PY'
import collections, sys
from sink import *
ss = spans(sys.argv[1])
ids = collections.Counter(s["spanId"] for s in ss)
assert all(n == 1 for n in ids.values()), ids
o, = [s for s in ss if s["attrs"].get("gputel.allocation.id") == "outage-job"]
assert o["res"]["service.name"] == "gputel" and o["res"]["justnews.gpu.host_role"] == "node", o["res"]
assert [s["res"]["service.name"] for s in ss if s["name"] == "train-step"] == ["myapp"]
PY
curl -s --max-time 5 "http://127.0.0.1:$APORT/metrics" >"$T/agent.metrics"
agent_metric() { awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$T/agent.metrics"; }
check "gputel counted $GN log records exported, none dropped or failed, and retried while the node was down (retries $(agent_metric 'gputel_otlp_retries_total{signal="logs"}'))" \
	test "$(agent_metric 'gputel_otlp_exported_total{signal="logs"}') $(agent_metric 'gputel_otlp_dropped_total{signal="logs"}') $(agent_metric 'gputel_otlp_failed_total{signal="logs"}')" = "$GN 0 0" -a \
	"$(agent_metric 'gputel_otlp_retries_total{signal="logs"}')" -ge 1

# ---- the demo, which ran during the outage ----
for ((i = 0; i < 300; i++)); do
	pid_alive "$DEMO" || break
	sleep 0.1
done
wait "$DEMO"
demo_rc=$?
sed -n 's/^\(otel-demo: \(log\|span\) .\{0,110\}\).*/# \1/p' "$T/demo.out" | head -n 6
check "scripts/otel-demo.sh --duration 15 exits 0 (got $demo_rc)" test "$demo_rc" -eq 0
check "... printed kernel Xid records with host_role=node, from gputel and from kern.log" \
	bash -c "grep -q '^otel-demo: log .*gputel gpu.xid .*service.name=gputel host_role=node .*NVRM: Xid' '$T/demo.out' &&
		grep -q '^otel-demo: log .*kern.log .*service.name=justnews-node host_role=node .*NVRM: Xid' '$T/demo.out'"
check "... and the allocation's span and the job's own (service.name=demo-app)" \
	bash -c "grep -q '^otel-demo: span | gpu.allocation .*service.name=gputel .*allocation demo-job' '$T/demo.out' &&
		grep -q '^otel-demo: span | train-step .*service.name=demo-app' '$T/demo.out'"
demo_dir=$(sed -n 's/^otel-demo: files in //p' "$T/demo.out")
check "... left no process behind (its session $DEMO is empty) and removed $demo_dir" \
	bash -c "! pgrep -s '$DEMO' >/dev/null && [ -n '$demo_dir' ] && [ ! -e '$demo_dir' ]"

check "the agent stops" stop_process "$AG"
check "the node collector stops within 15 s" stop_process "$NODE_PID"
check "the central collector stops within 15 s" stop_process "$CENTRAL_PID"
check "the sink stops" stop_otelcol
finish
