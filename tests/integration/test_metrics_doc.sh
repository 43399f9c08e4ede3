#!/bin/bash
# docs/metrics.md against what the agent serves: every family in a scrape
# with every name set on, an allocation live and telemetry on has a row in
# the docs, and every family the docs list is served.  Likewise the /status
# fields.
. "$(dirname "$0")/lib.sh"

SOCK="$T/run/control.sock"
mkdir -p "$T/run" "$T/state" "$T/out"
PORT=$(free_port)
cat >"$T/xid.scn" <<'SCN'
gpus 2
at 0 all util=50 power_w=300 clock_events=0x4
at 0.5 0 xid=79
SCN
use_sim 2 "$T/xid.scn" intel
# Kernel GPU events too, for their families (the Xid above is NVML's).
cp "$FIX/kmsg/variants.kmsg" "$T/kmsg"
export GPUTEL_KMSG="$T/kmsg"
"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$SOCK" \
	--exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.2 --start-util 90 \
	--metric-names gputel,jn,dcgm --otlp-endpoint "http://127.0.0.1:$(free_port)" >"$T/agent.log" 2>&1 &
PIDS+=("$!")
control_ready "$SOCK"
curl -s --unix-socket "$SOCK" -o /dev/null -X POST -d '{"id": "doc", "owner": "test"}' http://x/v1/allocations
sleep 1.5
curl -s "http://127.0.0.1:$PORT/metrics" >"$T/m.txt"
curl -s "http://127.0.0.1:$PORT/status" >"$T/status.json"
curl -s --unix-socket "$SOCK" http://x/v1/status >"$T/v1status.json"

check "the scrape has the allocation and the CSV counters" grep -q '^gputel_allocation_info{allocation="doc"' "$T/m.txt"
check "every family served is in docs/metrics.md, and every documented one is served" \
	python3 - "$T/m.txt" "$ROOT/docs/metrics.md" <<'PY'
import re, sys
served = set(re.findall(r"^# TYPE (\S+) ", open(sys.argv[1]).read(), re.M))
doc = set()
for line in open(sys.argv[2]):
    if line.startswith("| `"):
        first = line.split("|")[1]
        doc |= {n for n in re.findall(r"`([A-Za-z_:][A-Za-z0-9_:]*)`", first)
                if re.match(r"(gputel_|jn_|DCGM_FI_)", n)}
missing, extra = sorted(served - doc), sorted(doc - served)
for n in missing:
    print(f"# served but not in docs/metrics.md: {n}")
for n in extra:
    print(f"# in docs/metrics.md but not served: {n}")
sys.exit(1 if missing or extra else 0)
PY
check "/status and /v1/status serve the same fields, each documented" python3 - "$T/status.json" "$T/v1status.json" "$ROOT/docs/metrics.md" <<'PY'
import json, re, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert set(a) == set(b), (sorted(a), sorted(b))
doc = open(sys.argv[3]).read()
section = doc[doc.index("## /status"):]
missing = [k for k in a if f"`{k}`" not in section]
assert not missing, missing
assert a["mode"] == "agent" and a["allocations"] == 1 and a["telemetry_active"] is True, a
PY
finish
