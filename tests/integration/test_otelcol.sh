#!/bin/bash
# The OpenTelemetry Collector that the tests use as a real OTLP peer
# (scripts/otelcol.sh, start_otelcol in lib.sh): one OTLP/JSON log record and
# one span POSTed to its OTLP/HTTP receiver come out of its file exporters
# with their bodies and attributes intact; it starts again on the same
# config; stopping it leaves no process; a missing binary fails the test
# with a message that says how to build it.
. "$(dirname "$0")/lib.sh"

OC="$T/otelcol"
check "the collector starts and its health check answers" start_otelcol "$OC"
check "... on loopback: OTLP/HTTP at $OTELCOL_HTTP" bash -c "[[ '$OTELCOL_HTTP' == http://127.0.0.1:[0-9]* ]]"

# post PATH JSON-FILE: POSTs an OTLP/JSON request; prints the HTTP status.
post() {
	curl -s -o "$T/resp" -w '%{http_code}' --max-time 5 \
		-H 'Content-Type: application/json' --data-binary @"$2" "$OTELCOL_HTTP$1"
}

now=$(date +%s%N)
log_request() { # body
	cat <<-JSON
		{"resourceLogs": [{
		  "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gputel"}}]},
		  "scopeLogs": [{
		    "scope": {"name": "gputel.test"},
		    "logRecords": [{
		      "timeUnixNano": "$now",
		      "severityNumber": 17, "severityText": "ERROR",
		      "body": {"stringValue": "$1"},
		      "attributes": [
		        {"key": "gpu.index", "value": {"intValue": "3"}},
		        {"key": "gpu.uuid", "value": {"stringValue": "GPU-0c1e3a55-test"}},
		        {"key": "xid", "value": {"intValue": "79"}}
		      ]
		    }]
		  }]
		}]}
	JSON
}
log_request "Xid 79: GPU has fallen off the bus" >"$T/log1.json"
check "POST /v1/logs is 200" test "$(post /v1/logs "$T/log1.json")" = 200

cat >"$T/span.json" <<JSON
{"resourceSpans": [{
  "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gputel"}}]},
  "scopeSpans": [{
    "scope": {"name": "gputel.test"},
    "spans": [{
      "traceId": "5b8efff798038103d269b633813fc60c",
      "spanId": "eee19b7ec3c1b174",
      "name": "allocation",
      "kind": 1,
      "startTimeUnixNano": "$now",
      "endTimeUnixNano": "$((now + 1500000000))",
      "attributes": [
        {"key": "alloc.id", "value": {"stringValue": "job-42"}},
        {"key": "gpu.count", "value": {"intValue": "2"}}
      ]
    }]
  }]
}]}
JSON
check "POST /v1/traces is 200" test "$(post /v1/traces "$T/span.json")" = 200

# The file exporter writes one OTLP/JSON object a line.
check "the log record reaches logs.json" wait_for "$OC/logs.json" 'fallen off the bus' 10
check "... with its body, severity, attributes and resource intact" python3 - "$OC/logs.json" <<'PY'
import json, sys
recs = []
for line in open(sys.argv[1]):
    for rl in json.loads(line)["resourceLogs"]:
        res = {a["key"]: a["value"] for a in rl["resource"]["attributes"]}
        for sl in rl["scopeLogs"]:
            for r in sl["logRecords"]:
                recs.append((res, sl["scope"]["name"], r))
assert len(recs) == 1, recs
res, scope, r = recs[0]
assert res["service.name"] == {"stringValue": "gputel"}, res
assert scope == "gputel.test", scope
assert r["body"] == {"stringValue": "Xid 79: GPU has fallen off the bus"}, r
assert r["severityNumber"] == 17 and r["severityText"] == "ERROR", r
attrs = {a["key"]: a["value"] for a in r["attributes"]}
assert attrs == {"gpu.index": {"intValue": "3"}, "gpu.uuid": {"stringValue": "GPU-0c1e3a55-test"},
                 "xid": {"intValue": "79"}}, attrs
PY
check "the span reaches traces.json" wait_for "$OC/traces.json" 'eee19b7ec3c1b174' 10
check "... with its ids, name, times and attributes intact" python3 - "$OC/traces.json" "$now" <<'PY'
import json, sys
spans = [s for line in open(sys.argv[1]) for rs in json.loads(line)["resourceSpans"]
         for ss in rs["scopeSpans"] for s in ss["spans"]]
assert len(spans) == 1, spans
s = spans[0]
assert s["traceId"] == "5b8efff798038103d269b633813fc60c" and s["spanId"] == "eee19b7ec3c1b174", s
assert s["name"] == "allocation" and s["kind"] == 1, s
assert int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"]) == 1500000000, s
assert s["startTimeUnixNano"] == sys.argv[2], s
attrs = {a["key"]: a["value"] for a in s["attributes"]}
assert attrs == {"alloc.id": {"stringValue": "job-42"}, "gpu.count": {"intValue": "2"}}, attrs
PY
check "a request that is not OTLP is refused with 400" test "$(echo '{"resourceLogs": 5}' >"$T/bad.json"; post /v1/logs "$T/bad.json")" = 400

# ---- stop, and start again on the same config ----
pid=$OTELCOL_PID
http=$OTELCOL_HTTP
check "stop_otelcol stops it with SIGTERM" stop_otelcol
check "... and no collector process is left" bash -c "! kill -0 $pid 2>/dev/null && ! pgrep -f -- '--config $OC/otelcol[.]yaml' >/dev/null"
check "a second start on the same config comes up" start_otelcol "$OC"
check "... on the same port" test "$OTELCOL_HTTP" = "$http"
log_request "Xid 48: double bit ECC error" >"$T/log2.json"
check "... and takes a log record" test "$(post /v1/logs "$T/log2.json")" = 200
wait_for "$OC/logs.json" 'double bit ECC' 10
check "... appended to logs.json after the first one" \
	bash -c "[ \$(wc -l <'$OC/logs.json') -eq 2 ] && head -n1 '$OC/logs.json' | grep -q 'fallen off the bus' && tail -n1 '$OC/logs.json' | grep -q 'double bit ECC'"
pid=$OTELCOL_PID
stop_otelcol
check "the second one stops too, leaving no process" bash -c "! kill -0 $pid 2>/dev/null && ! pgrep -f -- '--config $OC/otelcol[.]yaml' >/dev/null"

# ---- no collector binary: the calling test fails and says what to run ----
GPUTEL_OTELCOL="$T/no-such-otelcol" bash -c '. "$1/tests/integration/lib.sh"; start_otelcol "$T/oc"; echo "still running"' _ "$ROOT" >"$T/missing.out" 2>&1
rc=$?
check "a missing collector fails the test (exit $rc) and names scripts/otelcol.sh" \
	bash -c "[ $rc -ne 0 ] && grep -q '^not ok - no OpenTelemetry Collector at $T/no-such-otelcol: run scripts/otelcol.sh' '$T/missing.out' && ! grep -q 'still running' '$T/missing.out'"
finish
