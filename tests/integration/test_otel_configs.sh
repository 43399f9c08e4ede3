#!/bin/bash
# The node and central collector configurations (packaging/otel/) on the
# collector that scripts/otelcol.sh builds:
# - the env files carry exactly the keys the configurations read, at the
#   configurations' defaults;
# - "validate" accepts both under those defaults, with nothing set, and under
#   a set of overrides (optional exporters on), and refuses broken values
#   with a message that names them;
# - node → central → a sink collector, all on loopback: kern.log lines in
#   both syslog timestamp forms arrive parsed (time, severity, Xid code,
#   bus id) with the node's resource, other kernel lines are dropped, an
#   application's service.name and host.name are kept, its span reaches
#   both trace exporters; health and self-metrics answer; a restart of the
#   node, a rotation of kern.log and an outage of the central collector
#   (with the node restarted during it) lose and duplicate nothing;
# - both units pass systemd-analyze verify and score at most 2.5 in
#   systemd-analyze security, and their ExecStartPre command accepts the
#   shipped configuration.
. "$(dirname "$0")/lib.sh"

OTEL="$ROOT/packaging/otel"
NODE_CFG="$OTEL/node-collector-config.yaml"
CENTRAL_CFG="$OTEL/central-collector-config.yaml"
bin=${GPUTEL_OTELCOL:-$("$ROOT/scripts/otelcol.sh" --print 2>/dev/null | tail -n1)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	not_ok "no OpenTelemetry Collector${bin:+ at $bin}: run scripts/otelcol.sh (it builds one and prints its path) or set GPUTEL_OTELCOL to a collector binary"
	exit 1
fi

# ---- the env files and the configurations agree ----
envcheck() { # ENV-FILE CONFIG
	python3 - "$1" "$2" <<'PY'
import re, sys
env, cfg = open(sys.argv[1]).read(), open(sys.argv[2]).read()
cfg = "\n".join(l for l in cfg.splitlines() if not l.lstrip().startswith("#"))
keys = dict(re.findall(r'^([A-Z_]+)=(.*)$', env, re.M))
refs = {}
for name, default in re.findall(r'\$\{env:([A-Za-z_]+):-([^}]*)\}', cfg):
    assert refs.setdefault(name, default) == default, f"{name}: two defaults"
refs.pop("STATE_DIRECTORY")  # the unit's StateDirectory=, not the env file's
bad = [f"{k} is not read by the configuration" for k in keys if k not in refs]
bad += [f"{k} is missing" for k in refs if k not in keys]
bad += [f"{k}={keys[k]} but the configuration's default is {refs[k]!r}"
        for k in keys if k in refs and keys[k] != refs[k]]
# Each key, or each group of keys on consecutive lines, has a comment above it.
lines = env.splitlines()
for i, line in enumerate(lines):
    if re.match(r'^[A-Z_]+=', line):
        j = i - 1
        while j >= 0 and re.match(r'^[A-Z_]+=', lines[j]):
            j -= 1
        assert j >= 0 and lines[j].startswith("#"), f"{line}: no comment above it"
assert not re.search(r'\$\{env:[A-Za-z_]+\}', cfg), "a variable without a default"
assert not bad, bad
PY
}
check "node.env: every key the node configuration reads, commented, at its default" envcheck "$OTEL/node.env" "$NODE_CFG"
check "central.env: every key the central configuration reads, commented, at its default" envcheck "$OTEL/central.env" "$CENTRAL_CFG"

# ---- validate ----
# validate_with ENV-FILE-OR-- CONFIG [VAR=VALUE...]: runs validate with only
# PATH, the env file's keys (when one is given) and the overrides set;
# its output in $T/validate.out.
validate_with() {
	local envfile=$1 cfg=$2
	shift 2
	env -i PATH="$PATH" bash -c 'cfg=$2; set -a; [ "$1" = -- ] || . "$1"; set +a; shift 2; for kv; do export "$kv"; done; exec "$0" validate --config="$cfg"' \
		"$bin" "$envfile" "$cfg" "$@" >"$T/validate.out" 2>&1
}
check "validate: the node configuration under node.env" validate_with "$OTEL/node.env" "$NODE_CFG"
check "validate: the central configuration under central.env" validate_with "$OTEL/central.env" "$CENTRAL_CFG"
check "validate: the node configuration with no variable set" validate_with -- "$NODE_CFG"
check "validate: the central configuration with no variable set" validate_with -- "$CENTRAL_CFG"
check "validate: the node configuration under overrides" validate_with "$OTEL/node.env" "$NODE_CFG" \
	OTEL_UPSTREAM_ENDPOINT=central.example.net:4319 OTEL_UPSTREAM_INSECURE=false \
	"OTEL_UPSTREAM_AUTH=Bearer s3cret" OTEL_UPSTREAM_QUEUE_SIZE=20000 DEPLOYMENT_ENVIRONMENT=production \
	OTEL_SERVICE_NAME=gpu-node-07 OTEL_MEMORY_LIMIT_MIB=2048 OTEL_BATCH_TIMEOUT=5s OTEL_LOG_LEVEL=debug \
	'OTEL_KERNEL_LOG_FILES=[/var/log/kern.log,/var/log/syslog]' 'OTEL_NVIDIA_LOG_FILES=[/var/log/nvidia-installer.log,/var/log/fabricmanager.log]' \
	OTEL_NODE_GRPC_ENDPOINT=127.0.0.1:14317 OTEL_NODE_HTTP_ENDPOINT=127.0.0.1:14318 OTEL_METRICS_PORT=18889 \
	OTEL_HEALTH_ENDPOINT=127.0.0.1:23133
check "validate: the central configuration with Jaeger, Elasticsearch and other overrides" \
	validate_with "$OTEL/central.env" "$CENTRAL_CFG" \
	'OTEL_CENTRAL_TRACES_EXPORTERS=[otlp_http/tempo,otlp_http/jaeger]' \
	'OTEL_CENTRAL_LOGS_EXPORTERS=[otlp_http/loki,elasticsearch]' \
	OTEL_CENTRAL_GRPC_ENDPOINT=10.0.0.5:4319 OTEL_CENTRAL_HTTP_ENDPOINT=10.0.0.5:4320 \
	TEMPO_ENDPOINT=http://tempo.example.net:4318 JAEGER_ENDPOINT=https://jaeger.example.net:4318 \
	LOKI_OTLP_ENDPOINT=https://loki.example.net/otlp ELASTICSEARCH_ENDPOINT=https://es.example.net:9200 \
	ELASTICSEARCH_USER=otel ELASTICSEARCH_PASSWORD=pw OTEL_MEMORY_LIMIT_MIB=4096 OTEL_QUEUE_SIZE=100
check "validate: Jaeger alone, as the only trace exporter" validate_with "$OTEL/central.env" "$CENTRAL_CFG" \
	'OTEL_CENTRAL_TRACES_EXPORTERS=[otlp_http/jaeger]'
# refuses PATTERN ENV-FILE CONFIG VAR=VALUE...: validate fails, saying PATTERN.
refuses() {
	local pat=$1
	shift
	! validate_with "$@" || return 1
	grep -m1 -- "$pat" "$T/validate.out" | cut -c1-200 | sed 's/^/# /'
	grep -q -- "$pat" "$T/validate.out"
}
check "validate refuses OTEL_MEMORY_LIMIT_MIB=lots, naming limit_mib" \
	refuses "'limit_mib' expected type 'uint32'" "$OTEL/node.env" "$NODE_CFG" OTEL_MEMORY_LIMIT_MIB=lots
check "validate refuses an empty OTEL_UPSTREAM_ENDPOINT, naming the exporter" \
	refuses 'otlp_grpc/upstream: requires a non-empty "endpoint"' "$OTEL/node.env" "$NODE_CFG" OTEL_UPSTREAM_ENDPOINT=
check "validate refuses an unknown trace exporter in OTEL_CENTRAL_TRACES_EXPORTERS, naming it" \
	refuses 'references exporter "otlp_http/zipkin" which is not configured' "$OTEL/central.env" "$CENTRAL_CFG" \
	'OTEL_CENTRAL_TRACES_EXPORTERS=[otlp_http/zipkin]'
check "validate refuses an empty log exporter list" \
	refuses 'pipelines::logs: must have at least one exporter' "$OTEL/central.env" "$CENTRAL_CFG" 'OTEL_CENTRAL_LOGS_EXPORTERS=[]'

# ---- node → central → sink, on loopback ----
# A port not in use, and not one handed out before in this test.
USED=" "
# port VAR: a free port not handed out before, into VAR (not in a subshell,
# so that the list of ports given grows).
port() {
	local p
	p=$(free_port)
	while [[ "$USED" == *" $p "* ]]; do p=$(free_port); done
	USED+="$p "
	printf -v "$1" '%s' "$p"
}
check "the sink collector starts" start_otelcol "$T/sink"
SINK_PID=$OTELCOL_PID
SINK=$T/sink

for v in C_GRPC C_HTTP C_MET C_HC N_GRPC N_HTTP N_MET N_HC ES_PORT; do port "$v"; done
mkdir -p "$T/cstate" "$T/nstate" "$T/log"
CENTRAL_PID='' NODE_PID=''

# start_central / start_node: start the collector on its shipped config,
# environment overridden for the test; wait up to 30 s for its health check.
start_central() {
	env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$OTEL/central.env" \
		env OTEL_CENTRAL_GRPC_ENDPOINT=127.0.0.1:$C_GRPC OTEL_CENTRAL_HTTP_ENDPOINT=127.0.0.1:$C_HTTP \
		OTEL_METRICS_PORT=$C_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$C_HC STATE_DIRECTORY="$T/cstate" \
		TEMPO_ENDPOINT="$OTELCOL_HTTP" JAEGER_ENDPOINT="$OTELCOL_HTTP" LOKI_OTLP_ENDPOINT="$OTELCOL_HTTP" \
		'OTEL_CENTRAL_TRACES_EXPORTERS=[otlp_http/tempo,otlp_http/jaeger]' \
		"$bin" --config="$CENTRAL_CFG" >>"$T/central.log" 2>&1 &
	CENTRAL_PID=$!
	PIDS+=("$CENTRAL_PID")
	healthy "$CENTRAL_PID" "http://127.0.0.1:$C_HC/" "$T/central.log"
}
start_node() {
	env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$OTEL/node.env" \
		env OTEL_NODE_GRPC_ENDPOINT=127.0.0.1:$N_GRPC OTEL_NODE_HTTP_ENDPOINT=127.0.0.1:$N_HTTP \
		OTEL_METRICS_PORT=$N_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$N_HC STATE_DIRECTORY="$T/nstate" \
		OTEL_UPSTREAM_ENDPOINT=127.0.0.1:$C_GRPC DEPLOYMENT_ENVIRONMENT=itest \
		"OTEL_KERNEL_LOG_FILES=[$T/log/kern.log,$T/log/kern.log.1]" \
		"OTEL_NVIDIA_LOG_FILES=[$T/log/nvidia-installer.log,$T/log/no-such-driver.log]" \
		"$bin" --config="$NODE_CFG" >>"$T/node.log" 2>&1 &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
	healthy "$NODE_PID" "http://127.0.0.1:$N_HC/" "$T/node.log"
}
healthy() { # PID URL LOG
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

# The kernel log: an RFC 3164 line of an hour ago (today's date, the
# host's zone), one of 5 March (a space-padded day), RFC 3339 lines with a
# fraction and an offset and with Z, other kernel lines that must be dropped
# (one from a host whose name says nvidia), a driver line without an Xid.
ago=$(date -d '-1 hour' +%s)
stamp3164=$(date -d "@$ago" '+%b %e %H:%M:%S')
cat >"$T/log/kern.log" <<EOF
$stamp3164 gpu-01 kernel: [  812.503241] NVRM: Xid (PCI:0000:2b:00): 79, pid=2413, name=python3, GPU has fallen off the bus.
Mar  5 14:02:12 gpu-01 kernel: [  812.603241] usb 1-1: new high-speed USB device number 3 using xhci_hcd
Mar  5 14:02:12 gpu-01 kernel: NVRM: Xid (PCI:0000:3b:00): 31, pid=977, name=train, Ch 00000010, intr 00000000. MMU Fault
2026-03-05T14:02:13.123456+01:00 gpu-01 kernel: NVRM: Xid (PCI:0000:5e:00): 48, pid='<unknown>', name=<unknown>, An uncorrectable double bit error
2026-03-05T14:02:14Z gpu-01 kernel: nvidia-nvswitch3: SXid (PCI:0000:c6:00.0): 12028, Non-fatal, Link 46 LTSSM Fault Up
2026-03-05T14:02:15+00:00 nvidia-dgx-01 kernel: e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex
2026-03-05T14:02:16.5+00:00 gpu-01 kernel: NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15
EOF
printf '%s\n' "nvidia-installer log file '/var/log/nvidia-installer.log'" \
	"ERROR: Unable to load the kernel module 'nvidia.ko'." >"$T/log/nvidia-installer.log"

check "the central collector starts on its shipped configuration (Jaeger on)" start_central
check "the node collector starts on its shipped configuration (one NVIDIA log file missing)" start_node
check "the node's health check answers on 127.0.0.1:$N_HC" \
	bash -c "curl -sf --max-time 2 http://127.0.0.1:$N_HC/ | grep -q 'Server available'"

# An application's log record and span, sent to the node over OTLP/HTTP.
now=$(date +%s%N)
cat >"$T/app-log.json" <<JSON
{"resourceLogs": [{"resource": {"attributes": [
  {"key": "service.name", "value": {"stringValue": "myapp"}},
  {"key": "host.name", "value": {"stringValue": "app-host"}}]},
 "scopeLogs": [{"logRecords": [{"timeUnixNano": "$now", "severityNumber": 9,
   "body": {"stringValue": "myapp says hello"}}]}]}]}
JSON
cat >"$T/app-span.json" <<JSON
{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "myapp"}}]},
 "scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
   "name": "train-step", "kind": 1, "startTimeUnixNano": "$now", "endTimeUnixNano": "$((now + 1000000))"}]}]}]}
JSON
post() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' --data-binary @"$2" "http://127.0.0.1:$N_HTTP$1"; }
check "the node takes an application's log record over OTLP/HTTP" test "$(post /v1/logs "$T/app-log.json")" = 200
check "... and its span" test "$(post /v1/traces "$T/app-span.json")" = 200

# records: every log record the sink holds, one JSON object a line:
# {"res": {...}, "time", "sev", "sevtext", "body", "attrs": {...}}.
records() {
	python3 - "$SINK/logs.json" <<'PY'
import json, sys
def val(v):
    (k, x), = v.items()
    return int(x) if k == "intValue" else x
try:
    lines = open(sys.argv[1]).read().splitlines()
except FileNotFoundError:
    lines = []
for line in lines:
    for rl in json.loads(line)["resourceLogs"]:
        res = {a["key"]: val(a["value"]) for a in rl["resource"].get("attributes", [])}
        for sl in rl["scopeLogs"]:
            for r in sl.get("logRecords", []):
                print(json.dumps({"res": res, "time": int(r.get("timeUnixNano", 0)),
                    "sev": r.get("severityNumber", 0), "sevtext": r.get("severityText", ""),
                    "body": val(r["body"]),
                    "attrs": {a["key"]: val(a["value"]) for a in r.get("attributes", [])}}))
PY
}
# arrived N: waits up to 30 s for the sink to hold N log records.
arrived() {
	local i
	for ((i = SECONDS + 30; SECONDS < i; )); do
		[ "$(records | wc -l)" -ge "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
# 5 kernel lines of 7, 2 installer lines, 1 application record.
check "8 log records reach the sink through node and central" arrived 8
sleep 1.5
records >"$T/recs"
check "... and no more: the non-NVIDIA kernel lines are dropped" test "$(wc -l <"$T/recs")" -eq 8

host=$(python3 -c 'import socket; print(socket.gethostname())')
machine_id=$(cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id 2>/dev/null)
check "the kernel and driver records carry the node's resource (host_role, host.name, host.id, environment, service.name)" \
	python3 - "$T/recs" "$host" "$machine_id" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
files = [r for r in recs if r["attrs"].get("log.file.name") in ("kern.log", "nvidia-installer.log")]
assert len(files) == 7, files
for r in files:
    res = r["res"]
    assert res.get("justnews.gpu.host_role") == "node", res
    assert res.get("host.name") == sys.argv[2], res
    if sys.argv[3]:
        assert res.get("host.id") == sys.argv[3], res
    assert res.get("deployment.environment") == "itest", res
    assert res.get("deployment.environment.name") == "itest", res
    assert res.get("service.name") == "justnews-node", res
PY
check "the kernel lines: syslog time (RFC 3164 and RFC 3339), severity, Xid code, bus id, pid; prefix removed" \
	python3 - "$T/recs" "$ago" <<'PY'
import json, sys, time, datetime
recs = {r["body"]: r for r in map(json.loads, open(sys.argv[1])) if r["attrs"].get("log.file.name") == "kern.log"}
def local_3164(month, day, hms):
    # The collector's rule: this year, or last year when that is more than 7 days ahead.
    now = datetime.datetime.now()
    d = datetime.datetime(now.year, month, day, *hms)
    if d > now + datetime.timedelta(days=7):
        d = d.replace(year=now.year - 1)
    return int(time.mktime(d.timetuple())) * 10**9
want = {
    "NVRM: Xid (PCI:0000:2b:00): 79, pid=2413, name=python3, GPU has fallen off the bus.":
        (int(sys.argv[2]) * 10**9, 21, "FATAL", {"nvidia.xid.code": 79, "gpu.pci_bus_id": "00000000:2B:00.0", "process.pid": 2413}),
    "NVRM: Xid (PCI:0000:3b:00): 31, pid=977, name=train, Ch 00000010, intr 00000000. MMU Fault":
        (local_3164(3, 5, (14, 2, 12)), 17, "ERROR", {"nvidia.xid.code": 31, "gpu.pci_bus_id": "00000000:3B:00.0", "process.pid": 977}),
    "NVRM: Xid (PCI:0000:5e:00): 48, pid='<unknown>', name=<unknown>, An uncorrectable double bit error":
        (1772715733123456000, 17, "ERROR", {"nvidia.xid.code": 48, "gpu.pci_bus_id": "00000000:5E:00.0"}),
    "nvidia-nvswitch3: SXid (PCI:0000:c6:00.0): 12028, Non-fatal, Link 46 LTSSM Fault Up":
        (1772719334000000000, 17, "ERROR", {"nvidia.sxid.code": 12028, "nvidia.nvswitch.pci_bus_id": "00000000:C6:00.0"}),
    "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15":
        (1772719336500000000, 9, "INFO", {}),
}
assert set(recs) == set(want), (sorted(recs), sorted(want))
for body, (t, sev, text, attrs) in want.items():
    r = recs[body]
    assert r["time"] == t, (body, r["time"], t)
    assert (r["sev"], r["sevtext"]) == (sev, text), (body, r)
    assert r["attrs"] == dict(attrs, **{"log.file.name": "kern.log"}), (body, r["attrs"])
PY
check "the installer log's lines, ERROR: as ERROR" python3 - "$T/recs" <<'PY'
import json, sys
recs = [r for r in map(json.loads, open(sys.argv[1])) if r["attrs"].get("log.file.name") == "nvidia-installer.log"]
assert [(r["body"][:6], r["sevtext"]) for r in recs] == [("nvidia", "INFO"), ("ERROR:", "ERROR")], recs
PY
check "the application's record keeps its service.name and host.name, and gets host_role=node" \
	python3 - "$T/recs" <<'PY'
import json, sys
r, = [r for r in map(json.loads, open(sys.argv[1])) if r["body"] == "myapp says hello"]
assert r["res"]["service.name"] == "myapp" and r["res"]["host.name"] == "app-host", r
assert r["res"]["justnews.gpu.host_role"] == "node" and r["res"]["deployment.environment"] == "itest", r
PY
check "the application's span reaches both trace exporters (Tempo and Jaeger), service.name kept" \
	python3 - "$SINK/traces.json" <<'PY'
import json, sys, time
for _ in range(100):
    try:
        spans = [(rs["resource"], s) for l in open(sys.argv[1]) for rs in json.loads(l)["resourceSpans"]
                 for ss in rs["scopeSpans"] for s in ss["spans"]]
    except FileNotFoundError:
        spans = []
    if len(spans) >= 2:
        break
    time.sleep(0.2)
assert len(spans) == 2, spans
for res, s in spans:
    attrs = {a["key"]: a["value"]["stringValue"] for a in res["attributes"]}
    assert attrs["service.name"] == "myapp" and attrs["justnews.gpu.host_role"] == "node", attrs
    assert s["spanId"] == "eee19b7ec3c1b174", s
PY
check "the node's self-metrics answer on 127.0.0.1:$N_MET (records accepted from the log files)" \
	bash -c "curl -sf --max-time 2 http://127.0.0.1:$N_MET/metrics | grep -q '^otelcol_receiver_accepted_log_records_total{.*receiver=\"filelog/kernel\".*} 5\$'"
check "the central's self-metrics answer on 127.0.0.1:$C_MET (log records sent to Loki)" \
	bash -c "curl -sf --max-time 2 http://127.0.0.1:$C_MET/metrics | grep -q '^otelcol_exporter_sent_log_records_total{.*exporter=\"otlp_http/loki\".*} 8\$'"

# body_counts: "N body" for each distinct body, from the sink.
once() { # every record arrived exactly once
	records | python3 -c '
import json, sys, collections
c = collections.Counter(json.loads(l)["body"] for l in sys.stdin)
d = {b: n for b, n in c.items() if n != 1}
assert not d, d'
}
kline() { echo "$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00) gpu-01 kernel: NVRM: Xid (PCI:0000:2b:00): 13, pid=1, name=x, Graphics Exception $1"; }

# ---- restart of the node: offsets kept ----
check "the node stops on SIGTERM" stop_process "$NODE_PID"
kline "written while the node was stopped" >>"$T/log/kern.log"
check "the node starts again" start_node
check "the line written while it was stopped arrives" arrived 9
sleep 2
check "... and nothing was read twice (offsets kept in file_storage)" once
check "... 9 records in all" test "$(records | wc -l)" -eq 9

# ---- rotation while the node runs ----
mv "$T/log/kern.log" "$T/log/kern.log.1"
kline "written to the rotated file" >>"$T/log/kern.log.1"
kline "first line of the new kern.log" >"$T/log/kern.log"
check "after a rotation, the late line of the old file and the new file's line arrive" arrived 11
sleep 2
check "... once each" once

# ---- a listed file that did not exist appears ----
echo "NVRM: a driver log that appeared later" >"$T/log/no-such-driver.log"
check "a listed NVIDIA log that appears while the node runs is read" arrived 12

# ---- outage of the central collector, the node restarted during it ----
check "the central collector stops" stop_process "$CENTRAL_PID"
kline "written during the central outage" >>"$T/log/kern.log"
# The node reads the line and queues it on disk (poll 200 ms, batch 1 s).
for ((i = 0; i < 50; i++)); do
	curl -sf --max-time 1 "http://127.0.0.1:$N_MET/metrics" |
		grep -q '^otelcol_receiver_accepted_log_records_total{.*receiver="filelog/kernel".*} [0-9]' &&
		[ "$(curl -sf --max-time 1 "http://127.0.0.1:$N_MET/metrics" | sed -n 's/^otelcol_exporter_queue_size{data_type="logs".*} \([0-9]*\)$/\1/p')" -ge 1 ] 2>/dev/null && break
	sleep 0.2
done
check "the node holds the line in its upstream queue while the central collector is away" test "$i" -lt 50
check "the node stops during the outage" stop_process "$NODE_PID"
check "the central collector starts again" start_central
check "the node starts again" start_node
check "the line queued on disk before the node's restart arrives" arrived 13
sleep 2
check "... once, and every earlier record still once" once
check "... 13 records in all" test "$(records | wc -l)" -eq 13

# ---- Elasticsearch switched on: the central collector starts with it ----
check "the central collector stops again" stop_process "$CENTRAL_PID"
mkdir -p "$T/cstate-es"
env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$OTEL/central.env" \
	env OTEL_CENTRAL_GRPC_ENDPOINT=127.0.0.1:$C_GRPC OTEL_CENTRAL_HTTP_ENDPOINT=127.0.0.1:$C_HTTP \
	OTEL_METRICS_PORT=$C_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$C_HC STATE_DIRECTORY="$T/cstate-es" \
	LOKI_OTLP_ENDPOINT="$OTELCOL_HTTP" ELASTICSEARCH_ENDPOINT="http://127.0.0.1:$ES_PORT" \
	'OTEL_CENTRAL_LOGS_EXPORTERS=[otlp_http/loki,elasticsearch]' \
	"$bin" --config="$CENTRAL_CFG" >>"$T/central-es.log" 2>&1 &
CENTRAL_PID=$!
PIDS+=("$CENTRAL_PID")
check "with OTEL_CENTRAL_LOGS_EXPORTERS=[otlp_http/loki,elasticsearch] the central collector starts" \
	healthy "$CENTRAL_PID" "http://127.0.0.1:$C_HC/" "$T/central-es.log"
check "... and stops within 15 s" stop_process "$CENTRAL_PID"
check "the node stops within 15 s" stop_process "$NODE_PID"
check "the sink stops" stop_process "$SINK_PID"
check "no collector of this test is left running" bash -c "! pgrep -f -- '[-]-config=$OTEL/' >/dev/null && ! pgrep -f -- '[-]-config $T/' >/dev/null"

# ---- the units ----
if ! command -v systemd-analyze >/dev/null; then
	not_ok "systemd-analyze is missing: scripts/deps.sh installs the systemd package"
	finish
	exit
fi
for u in node central; do
	unit="$T/justnews-otel-$u.service"
	sed "s|@OTELCOL@|$bin|g" "$OTEL/justnews-otel-$u.service.in" >"$unit"
	check "$u unit: the template leaves no @PLACEHOLDER@" bash -c "! grep -q '@[A-Z]*@' '$unit'"
	systemd-analyze verify --man=no "$unit" >"$T/verify" 2>&1
	check "$u unit: systemd-analyze verify: clean" bash -c "[ $? -eq 0 ] && [ ! -s '$T/verify' ]"
	sed 's/^/# /' "$T/verify"
	score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	check "$u unit: systemd-analyze security --offline=true: exposure $score, at most 2.5" \
		awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 2.5) }'
	check "$u unit: its env file, a dedicated account, a state directory, Restart=on-failure" \
		bash -c "grep -qx 'EnvironmentFile=-/etc/justnews/monitoring/otel/$u.env' '$unit' &&
			grep -qx 'User=justnews-otel' '$unit' && grep -qx 'DynamicUser=yes' '$unit' &&
			grep -qx 'StateDirectory=justnews-otel-$u' '$unit' && grep -qx 'Restart=on-failure' '$unit'"
	check "$u unit: ExecStart runs the installed configuration, ExecStartPre validates it first" \
		bash -c "grep -qx 'ExecStart=$bin --config=/etc/justnews/monitoring/otel/$u-collector-config.yaml' '$unit' &&
			grep -qx 'ExecStartPre=$bin validate --config=/etc/justnews/monitoring/otel/$u-collector-config.yaml' '$unit'"
	check "$u unit: no shell-style \${VAR:-default}, which systemd does not expand" bash -c "! grep -q '\${[A-Z_]*:-' '$unit'"
	# The ExecStartPre command itself, on the shipped files.
	pre=$(sed -n 's/^ExecStartPre=//p' "$unit" | sed "s|/etc/justnews/monitoring/otel/|$OTEL/|")
	check "$u unit: its ExecStartPre command accepts the shipped configuration and env file" \
		env -i PATH="$PATH" bash -c "set -a; . '$OTEL/$u.env'; set +a; $pre"
done
check "node unit: reads the kernel log through the adm group, without root or capabilities" \
	bash -c "grep -qx 'SupplementaryGroups=adm' '$T/justnews-otel-node.service' &&
		grep -qx 'CapabilityBoundingSet=' '$T/justnews-otel-node.service' && ! grep -q '^User=root' '$T/justnews-otel-node.service'"

finish
