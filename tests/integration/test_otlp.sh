#!/bin/bash
# OTLP export from the agent (docs/otlp.md), against a real OpenTelemetry
# Collector (start_otelcol) and a scripted stub (tests/tools/otlp_stub.py):
# every kernel GPU event arrives once as a log record with its GPU, code,
# severity, text and resource, over http/protobuf and http/json; ended
# allocations and activity periods arrive as spans, in the trace that the
# begin (or gputel run's TRACEPARENT) named; a restart mid-stream and a 30 s
# collector outage lose and repeat nothing; 429 + Retry-After is honoured, a
# 400 is dropped and counted without a retry; bad settings stop the agent
# with exit 2 and a line naming the variable; a collector that is not there
# never stops the sampling.
. "$(dirname "$0")/lib.sh"

use_sim 2 "$SCN/steady.scn" intel
# A procfs root of our own, so that the test decides the boot id.
mkdir -p "$T/proc/sys/kernel/random"
cp "$FIX/intel/proc/stat" "$FIX/intel/proc/meminfo" "$T/proc/"
BOOT1=11111111-2222-3333-4444-555555555555
echo "$BOOT1" >"$T/proc/sys/kernel/random/boot_id"
export GPUTEL_PROCFS_ROOT="$T/proc"
cp "$FIX/kmsg/variants.kmsg" "$T/kmsg"
mkdir -p "$T/out" "$T/state"
"$GPUTEL" gpus --json >"$T/gpus.json"
OC="$T/oc"
PORT=$(free_port)
SOCK="$T/c.sock"
# OTLP/JSON lines of the collector, as Python; used by every check below.
cat >"$T/otlp.py" <<'PY'
import json, os, re, sys

def val(v):
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return float(v[k]) if k == "doubleValue" else v[k]
    if "intValue" in v:
        return int(v["intValue"])
    return v or None

def attrs(lst):
    return {a["key"]: val(a.get("value", {})) for a in lst or []}

def lines(path):
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    # The file exporter may be mid-line: only whole lines count.
    return [json.loads(l) for l in text.split("\n")[:-1] if l.strip()]

def items(path, signal, inst=None):
    """Log records or spans, each with its resource ("res") and scope; inst: service.instance.id (None: none)."""
    rk, sk, ik = ("resourceLogs", "scopeLogs", "logRecords") if signal == "logs" else ("resourceSpans", "scopeSpans", "spans")
    out = []
    for d in lines(path):
        for r in d.get(rk, []):
            res = attrs(r.get("resource", {}).get("attributes"))
            if res.get("service.instance.id") != inst:
                continue
            for s in r.get(sk, []):
                for x in s.get(ik, []):
                    x = dict(x)
                    x["res"], x["scope"], x["attrs"] = res, s.get("scope", {}), attrs(x.get("attributes"))
                    for e in x.get("events", []):
                        e["attrs"] = attrs(e.get("attributes"))
                    out.append(x)
    return out

def metrics(path):
    m = {}
    for l in open(path):
        if l.startswith("#") or not l.strip():
            continue
        k, v = l.rsplit(" ", 1)
        m[k] = float(v)
    return m

def kmsg_texts(path):
    """seq -> (priority, timestamp us, text) of a kernel log fixture."""
    out = {}
    for l in open(path):
        mm = re.match(r"^(\d+),(\d+),(\d+),[^;]*;(.*)$", l.rstrip("\n"))
        if mm:
            out[int(mm.group(2))] = (int(mm.group(1)), int(mm.group(3)), mm.group(4))
    return out

def uuid_by_pci(path):
    g = json.load(open(path))["gpus"]
    # 00000000:18:00.0 -> 0000:18:00, as the kernel writes it
    return {x["pci_bus_id"][4:-2]: x["uuid"] for x in g}, {x["index"]: x["uuid"] for x in g}

if __name__ == "__main__":
    # count FILE logs|traces [INST]: how many records or spans
    print(len(items(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None)))
PY
export PYTHONPATH="$T"

start_agent() {
	GPUTEL_KMSG="$T/kmsg" "$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" \
		--control-socket "$SOCK" --exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.1 \
		--start-util 90 --otlp-endpoint "$OTELCOL_HTTP" "$@" >>"$T/agent.log" 2>&1 &
	AG=$!
	PIDS+=("$AG")
}
# stop_pid PID: SIGTERM, then its exit status.
stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
scrape() { curl -s --max-time 5 "http://127.0.0.1:${2:-$PORT}/metrics" >"$1"; }
# metric FILE SERIES: the value of one series ("none" when absent).
metric() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print "none" }' "$1"; }
count() { python3 "$T/otlp.py" count "$@"; }
# wait_count FILE SIGNAL N SECONDS [INST]: until the collector wrote at least N.
wait_count() {
	local end=$((SECONDS + $4))
	while [ "$SECONDS" -lt "$end" ]; do
		[ "$(count "$1" "$2" "${5:-}")" -ge "$3" ] && return 0
		sleep 0.2
	done
	return 1
}
# wait_seq SEQ: until events.jsonl has the kernel record (up to 10 s).
wait_seq() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -qs "\"kernel_seq\": $1," "$T/out/events.jsonl" && return 0
		sleep 0.1
	done
	return 1
}
# no_process PATTERN: no process has it in its command line.
no_process() { ! pgrep -f -- "$1" >/dev/null; }
now_us() { python3 -c 'import time; print(int(time.monotonic() * 1e6))'; }
# xid_line SEQ PCI CODE TEXT [STAMP_US]
xid_line() { printf '3,%s,%s,-;NVRM: Xid (PCI:%s): %s, %s\n' "$1" "${5:-9000}" "$2" "$3" "$4"; }

check "the collector starts" start_otelcol "$OC" || exit 1
OC_HTTP=$OTELCOL_HTTP

# ---- 1) http/protobuf: the 9 kernel events of the fixture, each once ----
start_agent
# 2) http/json, from an agent of its own (its resource tells its records apart), at the same time.
JPORT=$(free_port)
{
	xid_line 900 0000:28:00 48 'An uncorrectable double bit error "json-probe" é'
	xid_line 901 0000:18:00 13 'pid=77, name=trainer, Graphics Exception json-probe'
} >"$T/kmsg-json"
mkdir -p "$T/json/out" "$T/json/state" "$T/json/tee"
# Through a tee (the stub, forwarding): the JSON gputel wrote, beside the collector's JSON view of it.
python3 "$ROOT/tests/tools/otlp_stub.py" --dir "$T/json/tee" --forward "$OTELCOL_HTTP" --max-seconds 60 &
PIDS+=("$!")
for ((i = 0; i < 50; i++)); do [ -s "$T/json/tee/port" ] && break; sleep 0.1; done
OTEL_RESOURCE_ATTRIBUTES='service.instance.id=json-agent,deployment.environment=test%2Cci' GPUTEL_KMSG="$T/kmsg-json" \
	"$GPUTEL" agent --config /dev/null --out-dir "$T/json/out" --state-dir "$T/json/state" \
	--control-socket "$T/json/c.sock" --exporter-bind 127.0.0.1 --exporter-port "$JPORT" --poll-interval 0.1 \
	--start-util 90 --otlp-endpoint "http://127.0.0.1:$(cat "$T/json/tee/port")/" --otlp-protocol http/json \
	>"$T/json/agent.log" 2>&1 &
JAG=$!
PIDS+=("$JAG")

check "the 9 records reach the collector" wait_count "$OC/logs.json" logs 9 15
sleep 1.2   # a repeat would come within a batch delay
scrape "$T/m1.txt"
check "... and no more ($(count "$OC/logs.json" logs) records)" test "$(count "$OC/logs.json" logs)" -eq 9
check "the agent says where logs and traces go" \
	grep -q "otlp: logs go to $OTELCOL_HTTP/v1/logs (http/protobuf, gzip)" "$T/agent.log"
check "each kernel event once, with its GPU, code, name, severity, text, process and resource" \
	python3 - "$OC/logs.json" "$T/kmsg" "$T/gpus.json" "${NODE_NAME:-$(hostname)}" <<'PY'
import collections, os, sys
from otlp import *
recs = items(sys.argv[1], "logs")
fix = kmsg_texts(sys.argv[2])
by_pci, _ = uuid_by_pci(sys.argv[3])
seqs = collections.Counter(r["attrs"]["linux.kmsg.seq"] for r in recs)
assert all(n == 1 for n in seqs.values()), seqs
assert sorted(seqs) == [102, 103, 104, 105, 106, 107, 109, 110, 113], sorted(seqs)
# seq: event name, bus address, Xid code, Xid name, severity number and text, pid, process
exp = {
    102: ("gpu.xid", "0000:18:00", 13, "GR_EXCEPTION", 13, "WARN", 2413, "python3"),
    103: ("gpu.xid", "0000:28:00", 95, "UNCONTAINED_ECC_ERROR", 17, "ERROR", 7062, None),
    104: ("gpu.xid", "0000:28:00", 63, "INFOROM_DRAM_RETIREMENT_EVENT", 9, "INFO", None, None),
    105: ("gpu.xid", "0000:18:00", 31, "FIFO_ERROR_MMU_ERR_FLT", 13, "WARN", None, None),
    106: ("gpu.xid", "0000:18:00", 4242, "unknown", 13, "WARN", None, None),
    107: ("gpu.xid", "0000:28:00", 79, "GPU_HAS_FALLEN_OFF_THE_BUS", 21, "FATAL", None, None),
    109: ("gpu.driver_message", None, None, None, 13, "WARN", None, None),
    110: ("nvswitch.sxid", None, None, None, 17, "ERROR", None, None),
    113: ("gpu.xid", "0000:18:00", 13, "GR_EXCEPTION", 13, "WARN", 2414, "python3"),
}
by = {r["attrs"]["linux.kmsg.seq"]: r for r in recs}
t0 = int(by[102]["timeUnixNano"])
for seq, (name, pci, code, xname, sev, sevtext, pid, proc) in exp.items():
    r, a = by[seq], by[seq]["attrs"]
    assert r.get("eventName") == name, (seq, r)
    assert r["body"] == {"stringValue": fix[seq][2]}, (seq, r["body"])
    assert r["severityNumber"] == sev and r["severityText"] == sevtext, (seq, r)
    assert a.get("gputel.event.source") == "kernel", (seq, a)
    if pci:
        assert a["gpu.pci_bus_id"] == pci and a["gpu.uuid"] == by_pci[pci], (seq, a)
        assert a["gpu.index"] == (0 if pci == "0000:18:00" else 1) and a["gpu.name"] == "NVIDIA H100 80GB HBM3", (seq, a)
        assert a["nvidia.xid.code"] == code and a["nvidia.xid.name"] == xname, (seq, a)
    else:
        assert "nvidia.xid.code" not in a, (seq, a)
        if "gpu.uuid" in a:
            assert a["gpu.uuid"] == by_pci.get(a.get("gpu.pci_bus_id")), (seq, a)
    assert a.get("process.pid") == pid and a.get("process.executable.name") == proc, (seq, a)
    # The kernel's stamps, microseconds after boot, keep their distances.
    d = int(r["timeUnixNano"]) - t0 - (fix[seq][1] - fix[102][1]) * 1000
    assert abs(d) < 1000000, (seq, d)
    assert int(r["observedTimeUnixNano"]) >= int(r["timeUnixNano"]), r
    assert "traceId" not in r or not r["traceId"], r
    res = r["res"]
    assert res["service.name"] == "gputel" and res["justnews.gpu.host_role"] == "node", res
    assert res["host.name"] == sys.argv[4] and res.get("service.version"), res
    mid = open("/etc/machine-id").read().strip() if os.path.exists("/etc/machine-id") else ""
    if mid:
        assert res["host.id"] == mid, res
    assert r["scope"].get("name") == "gputel", r["scope"]
a = by[103]["attrs"]
assert a["nvidia.mig.gpu_instance_id"] == 1 and a["nvidia.mig.compute_instance_id"] == 2, a
assert a["nvidia.xid.severity"] == "error" and a["nvidia.xid.action"], a
a = by[110]["attrs"]
assert a["nvidia.sxid.code"] == 12028 and a["nvidia.sxid.fatal"] is False, a
assert a["nvidia.nvswitch.pci_bus_id"] == "0000:05:00" and "gpu.uuid" not in a, a
PY
check "gputel_otlp_exported_total{signal=\"logs\"} is 9" test "$(metric "$T/m1.txt" 'gputel_otlp_exported_total{signal="logs"}')" = 9
check "... and nothing failed, dropped, retried or queued" bash -c "grep -E '^gputel_otlp_(failed|dropped|retries)_total|^gputel_otlp_queue' '$T/m1.txt' | awk '\$2 != 0 { bad = 1 } END { exit bad }'"
check "gputel_gpu_xid_errors_total counts, per GPU and code, the Xid records the collector got" \
	python3 - "$OC/logs.json" "$T/m1.txt" <<'PY'
import collections, re, sys
from otlp import *
got = collections.Counter((r["attrs"]["gpu.index"], r["attrs"]["nvidia.xid.code"], r["attrs"]["gpu.uuid"])
                          for r in items(sys.argv[1], "logs") if r.get("eventName") == "gpu.xid")
m = {}
for k, v in metrics(sys.argv[2]).items():
    mm = re.match(r'gputel_gpu_xid_errors_total\{gpu="(\d+)",uuid="([^"]*)",.*xid="(\d+)"\}', k)
    if mm:
        m[(int(mm.group(1)), int(mm.group(3)), mm.group(2))] = v
assert m == got and sum(m.values()) == 7, (m, got)
PY

# ---- 2) http/json ----
check "http/json: the JSON agent's 2 records reach the collector" wait_count "$OC/logs.json" logs 2 10 json-agent
check "... the agent says it sends http/json" grep -q "otlp: logs go to http://127.0.0.1:$(cat "$T/json/tee/port")/v1/logs (http/json, gzip)" "$T/json/agent.log"
check "... the body gputel wrote and the collector's JSON view of it say the same" \
	python3 - "$T/json/tee/requests.jsonl" "$OC/logs.json" <<'PY'
import json, sys
from otlp import *
sent = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1]) if '"/v1/logs"' in l]
assert sent, "the tee saw no logs request"
ours = []
for d in sent:
    for r in d["resourceLogs"]:
        res = attrs(r["resource"]["attributes"])
        for s in r["scopeLogs"]:
            assert s["scope"] == {"name": "gputel", "version": res["service.version"]}, s["scope"]
            ours += [(res, x) for x in s["logRecords"]]
theirs = {r["attrs"]["linux.kmsg.seq"]: r for r in items(sys.argv[2], "logs", "json-agent")}
assert len(ours) == 2 and len(theirs) == 2, (len(ours), len(theirs))
for res, x in ours:
    y = theirs[attrs(x["attributes"])["linux.kmsg.seq"]]
    assert res == y["res"], (res, y["res"])
    for k in ("timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText", "eventName", "body"):
        assert str(x[k]) == str(y[k]), (k, x[k], y[k])
    assert attrs(x["attributes"]) == y["attrs"], (attrs(x["attributes"]), y["attrs"])
PY
check "... with text (quotes, UTF-8), GPU, code, process and the OTEL_RESOURCE_ATTRIBUTES resource intact" \
	python3 - "$OC/logs.json" "$T/kmsg-json" "$T/gpus.json" <<'PY'
import sys
from otlp import *
recs = items(sys.argv[1], "logs", "json-agent")
fix = kmsg_texts(sys.argv[2])
by_pci, _ = uuid_by_pci(sys.argv[3])
assert sorted(r["attrs"]["linux.kmsg.seq"] for r in recs) == [900, 901], recs
for r in recs:
    seq = r["attrs"]["linux.kmsg.seq"]
    a = r["attrs"]
    assert r["body"] == {"stringValue": fix[seq][2]}, r["body"]
    assert a["gpu.uuid"] == by_pci[a["gpu.pci_bus_id"]], a
    assert r["eventName"] == "gpu.xid" and r["res"]["service.name"] == "gputel", r
    assert r["res"]["deployment.environment"] == "test,ci", r["res"]
by = {r["attrs"]["linux.kmsg.seq"]: r for r in recs}
assert '"json-probe" é' in by[900]["body"]["stringValue"]
assert by[900]["attrs"]["nvidia.xid.code"] == 48 and by[900]["attrs"]["nvidia.xid.name"] == "GPU_ECC_DBE", by[900]
assert by[900]["severityNumber"] == 17, by[900]
assert by[901]["attrs"]["process.pid"] == 77 and by[901]["attrs"]["process.executable.name"] == "trainer", by[901]
PY
# A span over http/json: trace ids are hex there, not base64.
control_ready "$T/json/c.sock"
TPJ=00-11112222333344445555666677778888-9999aaaabbbbcccc-01
"$GPUTEL" alloc begin json1 --gpus 1 --traceparent "$TPJ" --socket "$T/json/c.sock" --json >"$T/json/begin.json" 2>&1
sleep 0.5
"$GPUTEL" alloc end json1 --socket "$T/json/c.sock" >/dev/null
check "... a span over http/json arrives" wait_count "$OC/traces.json" traces 1 10 json-agent
check "... its allocation, in the trace that --traceparent named" python3 - "$OC/traces.json" <<'PY'
import sys
from otlp import *
s = [x for x in items(sys.argv[1], "traces", "json-agent") if x["name"] == "gpu.allocation"]
assert len(s) == 1, s
assert s[0]["traceId"] == "11112222333344445555666677778888" and s[0]["parentSpanId"] == "9999aaaabbbbcccc", s
assert s[0]["attrs"]["gputel.allocation.id"] == "json1" and s[0]["attrs"]["gpu.count"] == 1, s
PY
scrape "$T/json/m.txt" "$JPORT"
check "... the JSON agent counts 2 log records exported" test "$(metric "$T/json/m.txt" 'gputel_otlp_exported_total{signal="logs"}')" = 2
stop_pid "$JAG"

# ---- 7) spans: an allocation begun with a traceparent, and gputel run in a trace ----
check "the control socket answers" control_ready "$SOCK"
TRACE1=4bf92f3577b34da6a3ce929d0e0e4736
PARENT1=00f067aa0ba902b7
curl -s --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' -o "$T/span1.json" -w '%{http_code}' \
	--data-binary "{\"id\": \"span1\", \"gpus\": [0, 1], \"traceparent\": \"00-$TRACE1-$PARENT1-01\", \"labels\": {\"job\": \"otlp-test\"}}" \
	http://x/v1/allocations >"$T/span1.code"
check "a begin with a traceparent is 201" test "$(cat "$T/span1.code")" = 201
TRACE2=0af7651916cd43dd8448eb211c80319c
PARENT2=b7ad6b7169203331
TRACEPARENT="00-$TRACE2-$PARENT2-01" "$GPUTEL" run --id run1 --gpus 1 --socket "$SOCK" -o "$T/run1.txt" -- \
	sh -c 'echo "$TRACEPARENT" >"$1"; sleep 1' _ "$T/run1.tp"
run_rc=$?
curl -s --unix-socket "$SOCK" -X DELETE -o /dev/null http://x/v1/allocations/span1
check "gputel run exits 0" test "$run_rc" -eq 0
check "3 spans reach the collector: 2 allocations and their activity period" wait_count "$OC/traces.json" traces 3 10
sleep 1.2
scrape "$T/m7.txt"
check "the spans: ids, parents, names and attributes" python3 - "$OC/traces.json" "$T/span1.json" "$T/run1.tp" "$T/gpus.json" \
	"$TRACE1" "$PARENT1" "$TRACE2" "$PARENT2" <<'PY'
import json, sys
from otlp import *
spans = items(sys.argv[1], "traces")
reply = json.load(open(sys.argv[2]))
run_tp = open(sys.argv[3]).read().strip()
_, by_index = uuid_by_pci(sys.argv[4])
trace1, parent1, trace2, parent2 = sys.argv[5:9]
assert len(spans) == 3, [s["name"] for s in spans]
assert len({s["spanId"] for s in spans}) == 3, spans
allocs = {s["attrs"]["gputel.allocation.id"]: s for s in spans if s["name"] == "gpu.allocation"}
periods = [s for s in spans if s["name"] == "gpu.activity_period"]
assert sorted(allocs) == ["run1", "span1"] and len(periods) == 1, spans
s, a = allocs["span1"], allocs["span1"]["attrs"]
# The begin's reply names the span that was then exported.
assert reply["traceparent"] == "00-%s-%s-01" % (trace1, s["spanId"]) and reply["parent_span_id"] == parent1, reply
assert s["traceId"] == trace1 and s["parentSpanId"] == parent1 and s["kind"] == 1, s
assert a["gpu.count"] == 2 and a["gpu.uuids"] == "%s,%s" % (by_index[0], by_index[1]), a
assert a["gputel.gpu.energy_joules"] > 0 and a["gputel.gpu.energy_partial"] is False, a
assert a["gputel.allocation.end_reason"] == "released" and a["gputel.allocation.label.job"] == "otlp-test", a
assert a["gputel.gpu.xid_count"] == 0 and s["status"].get("code", 0) != 2, s
assert a["gputel.gpu.utilization_peak_percent"] == 45, a
d = int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])
assert 1.0e9 <= d < 30e9, d
r, a = allocs["run1"], allocs["run1"]["attrs"]
assert r["traceId"] == trace2 and r["parentSpanId"] == parent2, r
# The command ran with TRACEPARENT naming the allocation's span.
assert run_tp == "00-%s-%s-01" % (trace2, r["spanId"]), (run_tp, r["spanId"])
assert a["gpu.count"] == 1 and a["gpu.uuids"] == by_index[1] and a["gputel.gpu.energy_joules"] > 0, a
assert a["gputel.allocation.owner"] == "gputel run" and a.get("process.pid", 0) > 0, a
p, a = periods[0], periods[0]["attrs"]
assert p["traceId"] not in (trace1, trace2) and not p.get("parentSpanId"), p
assert a["gputel.period.reason"] == "allocation" and a["gputel.period.ended_by"] == "idle", a
assert a["gputel.period.number"] == 1 and a["gputel.csv.rows"] > 0 and a["gputel.csv.rows_dropped"] == 0, a
rows = sum(1 for l in open(a["gputel.csv.path"]) if not l.startswith("timestamp,"))
assert rows == a["gputel.csv.rows"], (rows, a)
# The period covers both allocations.
assert int(p["startTimeUnixNano"]) <= int(s["startTimeUnixNano"]) + 200000000, (p, s)
assert int(p["endTimeUnixNano"]) >= int(s["endTimeUnixNano"]), (p, s)
PY
check "gputel_otlp_exported_total{signal=\"traces\"} is 3" test "$(metric "$T/m7.txt" 'gputel_otlp_exported_total{signal="traces"}')" = 3

# ---- 3) a restart mid-stream: nothing lost, nothing repeated ----
for s in 114 115 116 117 118; do xid_line "$s" 0000:18:00 13 "pid=$s, name=part_a, restart test"; done >>"$T/kmsg"
wait_seq 118   # read, and waiting in the exporter's batch (1 s)
for s in 119 120 121 122 123; do xid_line "$s" 0000:28:00 48 "restart test, part b"; done >>"$T/kmsg"
stop_pid "$AG"
rc=$?
check "the agent stops with status 0 on SIGTERM (status $rc)" test "$rc" -eq 0
sleep 0.5
C1=$(count "$OC/logs.json" logs)
Q=$(ls "$T/state/otlp-queue" | sed -n 's/^[0-9a-f]*-logs-\([0-9]*\)\..*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
echo "# at the stop: $C1 log records at the collector, $Q in the disk queue"
check "records taken but not yet sent at the stop are written to the disk queue ($Q)" test "$Q" -ge 5
check "... and the agent says so" grep -q "not yet sent stay queued in $T/state/otlp-queue for the next start" "$T/agent.log"
start_agent
check "after the restart, all 19 records have arrived" wait_count "$OC/logs.json" logs 19 15
sleep 1.2
scrape "$T/m3.txt"
check "... each once, counted by linux.kmsg.seq" python3 - "$OC/logs.json" <<'PY'
import collections, sys
from otlp import *
seqs = collections.Counter(r["attrs"]["linux.kmsg.seq"] for r in items(sys.argv[1], "logs"))
assert all(n == 1 for n in seqs.values()), [s for s, n in seqs.items() if n > 1]
assert sorted(seqs) == [102, 103, 104, 105, 106, 107, 109, 110, 113] + list(range(114, 124)), sorted(seqs)
PY
check "... the new run counts what it sent: the queued batch and what it read ($((19 - C1)))" \
	test "$(metric "$T/m3.txt" 'gputel_otlp_exported_total{signal="logs"}')" = $((19 - C1))
check "... and its queue is empty" test "$(metric "$T/m3.txt" gputel_otlp_queue_batches)" = 0
check "... the kernel log resumed where it left off" grep -q "resumed where it left off" "$T/agent.log"

# ---- 5) a 429 with Retry-After: 2, then 200 ----
# Side agents: their own state, output, socket and port, and a kernel log of 3 Xids.
for s in 1 2 3; do xid_line "$s" 0000:18:00 13 "pid=$s, name=side, side agent"; done >"$T/kmsg-side"
side_agent() { # NAME ENDPOINT [agent args]: sets SIDE (its directory), SPID, SPORT
	SIDE="$T/$1"
	local ep=$2
	shift 2
	mkdir -p "$SIDE/out" "$SIDE/state"
	SPORT=$(free_port)
	GPUTEL_KMSG="$T/kmsg-side" "$GPUTEL" agent --config /dev/null --out-dir "$SIDE/out" --state-dir "$SIDE/state" \
		--control-socket "$SIDE/c.sock" --exporter-bind 127.0.0.1 --exporter-port "$SPORT" --poll-interval 0.1 \
		--start-util 90 --otlp-endpoint "$ep" "$@" >"$SIDE/agent.log" 2>&1 &
	SPID=$!
	PIDS+=("$SPID")
}
stub() { # DIR SCRIPT: sets STUB_PID, STUB_URL
	mkdir -p "$1"
	python3 "$ROOT/tests/tools/otlp_stub.py" --dir "$1" --script "$2" --max-seconds 60 &
	STUB_PID=$!
	PIDS+=("$STUB_PID")
	for ((i = 0; i < 50; i++)); do [ -s "$1/port" ] && break; sleep 0.1; done
	STUB_URL="http://127.0.0.1:$(cat "$1/port")"
}
# wait_requests DIR N: until the stub logged N requests (up to 10 s).
wait_requests() {
	for ((i = 0; i < 100; i++)); do
		[ "$({ wc -l <"$1/requests.jsonl"; } 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

s5() {
	stub "$T/stub429" "429:2,200"
	side_agent s429 "$STUB_URL"
	check "429 then 200: two requests" wait_requests "$T/stub429" 2
	sleep 0.5
	scrape "$T/m5.txt" "$SPORT"
	check "... the second at least 2 s (Retry-After) after the first, the same batch again" \
		python3 - "$T/stub429/requests.jsonl" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 2, r
assert [x["status"] for x in r] == [429, 200] and all(x["path"] == "/v1/logs" for x in r), r
assert 2.0 <= r[1]["t"] - r[0]["t"] < 4.0, r[1]["t"] - r[0]["t"]
assert r[0]["body"] == r[1]["body"] and r[0]["content_type"] == "application/x-protobuf", r
assert r[0]["encoding"] == "gzip", r
PY
	check "... exported counts the 3 records once" test "$(metric "$T/m5.txt" 'gputel_otlp_exported_total{signal="logs"}')" = 3
	check "... retries 1, failed 0, queue empty" test "$(metric "$T/m5.txt" 'gputel_otlp_retries_total{signal="logs"}') $(metric "$T/m5.txt" 'gputel_otlp_failed_total{signal="logs"}') $(metric "$T/m5.txt" gputel_otlp_queue_batches)" = "1 0 0"
	check "... the wait is logged with the HTTP status" grep -q "otlp: cannot send to $STUB_URL/v1/logs (HTTP 429); records wait in the queue .* first in 2.0 s" "$SIDE/agent.log"
	stop_pid "$SPID"
	stop_pid "$STUB_PID"
}

# ---- 6) a 400: dropped, counted as failed, never retried (over http/json from OTEL_EXPORTER_OTLP_PROTOCOL) ----
s6() {
	stub "$T/stub400" "400"
	OTEL_EXPORTER_OTLP_PROTOCOL=http/json side_agent s400 "$STUB_URL"
	check "400: one request" wait_requests "$T/stub400" 1
	sleep 3
	scrape "$T/m6.txt" "$SPORT"
	check "... only one, in OTLP/JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json), holding the 3 records" \
		python3 - "$T/stub400/requests.jsonl" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 1 and r[0]["status"] == 400 and r[0]["path"] == "/v1/logs", r
assert r[0]["content_type"] == "application/json", r
body = json.loads(r[0]["body"])
assert sum(len(s["logRecords"]) for rl in body["resourceLogs"] for s in rl["scopeLogs"]) == 3, body
PY
	check "... failed_total{logs} 3, exported 0, retries 0, queue empty" test "$(metric "$T/m6.txt" 'gputel_otlp_failed_total{signal="logs"}') $(metric "$T/m6.txt" 'gputel_otlp_exported_total{signal="logs"}') $(metric "$T/m6.txt" 'gputel_otlp_retries_total{signal="logs"}') $(metric "$T/m6.txt" gputel_otlp_queue_batches)" = "3 0 0 0"
	check "... the log names the HTTP 400 and the collector's message" \
		grep -q "error: otlp: .*$STUB_URL/v1/logs.* refused 3 .*HTTP 400: stub says 400; dropped, not retried" "$SIDE/agent.log"
	stop_pid "$SPID"
	stop_pid "$STUB_PID"
}

# ---- 8) settings that cannot work, and a collector that is not there ----
s8() {
	local out rc a=(--config /dev/null --out-dir "$T/bad" --state-dir "$T/bad" --control-socket "$T/bad/c.sock"
			--exporter-bind 127.0.0.1 --exporter-port "$(free_port)" --duration 5)
	mkdir -p "$T/bad"
	out=$(timeout 10 "$GPUTEL" agent "${a[@]}" --otlp-endpoint notaurl 2>&1)
	rc=$?
	check "--otlp-endpoint notaurl: exit 2 (got $rc), one line naming JN_OTLP_ENDPOINT" \
		bash -c "[ $rc -eq 2 ] && [ \$(printf '%s\n' \"\$1\" | wc -l) -eq 1 ] && printf '%s' \"\$1\" | grep -q \"JN_OTLP_ENDPOINT: 'notaurl' is not an http:// or https:// URL\"" _ "$out"
	out=$(OTEL_EXPORTER_OTLP_PROTOCOL=grpc timeout 10 "$GPUTEL" agent "${a[@]}" --otlp-endpoint http://127.0.0.1:4318 2>&1)
	rc=$?
	check "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: exit 2 (got $rc), one line naming the variable" \
		bash -c "[ $rc -eq 2 ] && [ \$(printf '%s\n' \"\$1\" | wc -l) -eq 1 ] && printf '%s' \"\$1\" | grep -q \"OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported\"" _ "$out"
	out=$(OTEL_EXPORTER_OTLP_ENDPOINT=ftp://x timeout 10 "$GPUTEL" agent "${a[@]}" 2>&1)
	rc=$?
	check "OTEL_EXPORTER_OTLP_ENDPOINT=ftp://x: exit 2 (got $rc), naming the variable" \
		bash -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q \"OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' is not an http:// or https:// URL\"" _ "$out"
	out=$(GPUTEL_LIBCURL=/nonexistent timeout 10 "$GPUTEL" agent "${a[@]}" --otlp-endpoint http://127.0.0.1:4318 2>&1)
	rc=$?
	check "GPUTEL_LIBCURL=/nonexistent: exit 2 (got $rc), a line naming libcurl" \
		bash -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'error: .*cannot load /nonexistent.*libcurl'" _ "$out"
	check "... and no agent left running" no_process "--state-dir $T/bad"

	# Nothing listens: the agent samples on (busy GPUs: a CSV period), counts retries, keeps the records.
	local dead
	dead="http://127.0.0.1:$(free_port)"
	side_agent dead "$dead" --start-util 20 --start-seconds 0.2
	sleep 4
	scrape "$T/m8.txt" "$SPORT"
	check "nothing listens: the agent runs on" kill -0 "$SPID"
	check "... and samples: a recent tick, CSV rows written" python3 - "$T/m8.txt" <<'PY'
import sys, time
from otlp import *
m = metrics(sys.argv[1])
assert time.time() - m["gputel_last_tick_timestamp_seconds"] < 2, m["gputel_last_tick_timestamp_seconds"]
assert m["gputel_csv_rows_written_total"] >= 20, m["gputel_csv_rows_written_total"]
assert m['gputel_otlp_retries_total{signal="logs"}'] >= 1 and m['gputel_otlp_exported_total{signal="logs"}'] == 0, m
assert m["gputel_otlp_queue_batches"] == 1 and m["gputel_otlp_queue_bytes"] > 0, m
PY
	check "... the outage is logged once" test "$(grep -c "otlp: cannot send to $dead/v1/logs (" "$SIDE/agent.log")" = 1
	stop_pid "$SPID"
	rc=$?
	check "... it stops with status 0 (got $rc), the log batch and the period's span queued for the next start" \
		bash -c "[ $rc -eq 0 ] && ls '$SIDE/state/otlp-queue' | grep -q '^[0-9a-f]*-logs-3\.pb\.gz\$' && ls '$SIDE/state/otlp-queue' | grep -q '^[0-9a-f]*-traces-1\.pb\.gz\$'"

	# A collector that takes the connection and never answers: the stop does not wait for its timeout.
	python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16); s.settimeout(0.2)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
held, end = [], time.time() + 30
while time.time() < end:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
' "$T/mute.port" &
	PIDS+=("$!")
	for ((i = 0; i < 50; i++)); do [ -s "$T/mute.port" ] && break; sleep 0.1; done
	side_agent mute "http://127.0.0.1:$(cat "$T/mute.port")"
	sleep 3
	local t0
	t0=$(date +%s%N)
	stop_pid "$SPID"
	rc=$?
	t0=$((($(date +%s%N) - t0) / 1000000))
	check "a collector that never answers: the agent stops within 2 s (${t0} ms, status $rc), its batch queued" \
		bash -c "[ $rc -eq 0 ] && [ $t0 -lt 2000 ] && ls '$SIDE/state/otlp-queue' | grep -q -- '-logs-3\.pb\.gz\$'"
}

# ---- 4) the collector down for 30 s: everything arrives once it is back ----
stop_otelcol
down=$SECONDS
"$GPUTEL" alloc begin outage1 --gpus 0 --socket "$SOCK" >/dev/null
xid_line 130 0000:18:00 48 'An uncorrectable double bit error during the outage' "$(now_us)" >>"$T/kmsg"
for s in 131 132 133 134; do xid_line "$s" 0000:28:00 31 "Ch 0000000$((s - 130)), outage"; done >>"$T/kmsg"
wait_seq 134
sleep 0.3
"$GPUTEL" alloc end outage1 --socket "$SOCK" >/dev/null
# The other checks run while it is down.
s5
s6
s8
while [ $((SECONDS - down)) -lt 30 ]; do sleep 0.5; done
scrape "$T/m4.txt"
check "after 30 s down: batches wait in the queue, retries counted" python3 - "$T/m4.txt" <<'PY'
import sys, time
from otlp import *
m = metrics(sys.argv[1])
assert m["gputel_otlp_queue_bytes"] > 0 and m["gputel_otlp_queue_batches"] >= 2, m
assert m['gputel_otlp_retries_total{signal="logs"}'] + m['gputel_otlp_retries_total{signal="traces"}'] >= 3, m
assert m['gputel_otlp_dropped_total{signal="logs"}'] == 0 and m['gputel_otlp_failed_total{signal="logs"}'] == 0, m
assert time.time() - m["gputel_last_tick_timestamp_seconds"] < 2, "sampling stopped"
PY
check "... the outage is logged once" test "$(grep -c "otlp: cannot send to $OC_HTTP/v1/" "$T/agent.log")" = 1
check "the collector starts again" start_otelcol "$OC"
check "... on the same port" test "$OTELCOL_HTTP" = "$OC_HTTP"
up=$SECONDS
for ((i = 0; i < 375; i++)); do
	scrape "$T/m4b.txt"
	[ "$(metric "$T/m4b.txt" gputel_otlp_queue_batches)" = 0 ] && [ "$(count "$OC/logs.json" logs)" -ge 24 ] &&
		[ "$(count "$OC/traces.json" traces)" -ge 5 ] && break
	sleep 0.2
done
echo "# the queue drained $((SECONDS - up)) s after the collector came back"
sleep 0.5
scrape "$T/m4b.txt"
check "within 75 s the queue is empty" test "$(metric "$T/m4b.txt" gputel_otlp_queue_batches) $(metric "$T/m4b.txt" gputel_otlp_queue_bytes)" = "0 0"
check "... and so is its directory" test -z "$(ls "$T/state/otlp-queue")"
check "every log record of the run arrived exactly once (24)" python3 - "$OC/logs.json" <<'PY'
import collections, sys
from otlp import *
seqs = collections.Counter(r["attrs"]["linux.kmsg.seq"] for r in items(sys.argv[1], "logs"))
assert all(n == 1 for n in seqs.values()), [s for s, n in seqs.items() if n > 1]
assert sorted(seqs) == [102, 103, 104, 105, 106, 107, 109, 110, 113] + list(range(114, 124)) + list(range(130, 135)), sorted(seqs)
PY
check "... and every span (5): the outage's allocation with its Xid, and its activity period" \
	python3 - "$OC/traces.json" "$T/gpus.json" <<'PY'
import collections, sys
from otlp import *
spans = items(sys.argv[1], "traces")
_, by_index = uuid_by_pci(sys.argv[2])
assert len(spans) == 5 and len({s["spanId"] for s in spans}) == 5, [(s["name"], s["spanId"]) for s in spans]
o = [s for s in spans if s["attrs"].get("gputel.allocation.id") == "outage1"]
assert len(o) == 1, o
o, a = o[0], o[0]["attrs"]
assert a["gpu.uuids"] == by_index[0] and a["gputel.gpu.xid_count"] == 1 and a["gputel.gpu.energy_joules"] > 0, a
assert o["status"] == {"code": 2, "message": "1 Xid error during the allocation"}, o["status"]
ev = o.get("events", [])
assert [(e["name"], e["attrs"]["nvidia.xid.code"], e["attrs"]["gpu.index"]) for e in ev] == [("gpu.xid", 48, 0)], ev
assert int(o["startTimeUnixNano"]) <= int(ev[0]["timeUnixNano"]) <= int(o["endTimeUnixNano"]), (o, ev)
periods = [s for s in spans if s["name"] == "gpu.activity_period"]
assert len(periods) == 2 and periods[1]["attrs"]["gputel.period.reason"] == "allocation", periods
PY
check "... counted: the new run exported $((24 - C1)) log records and 2 spans" \
	test "$(metric "$T/m4b.txt" 'gputel_otlp_exported_total{signal="logs"}') $(metric "$T/m4b.txt" 'gputel_otlp_exported_total{signal="traces"}')" = "$((24 - C1)) 2"
check "... none dropped or failed" test "$(grep -E '^gputel_otlp_(dropped|failed)_total' "$T/m4b.txt" | awk '{ n += $2 } END { print n + 0 }')" = 0
check "... and the recovery is logged" grep -q "otlp: $OC_HTTP/v1/[a-z]* .*again after [0-9]* s" "$T/agent.log"
stop_pid "$AG"
stop_otelcol
finish
