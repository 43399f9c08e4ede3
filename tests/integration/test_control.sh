#!/bin/bash
# The allocation API on the agent's control socket: begin, list, show,
# renew, end; 4xx for bad requests with nothing changed; the event stream;
# telemetry held on by an allocation; the ledger; 100 clients at once; a
# kill -9 and a restart; reaping by dead pid and by TTL; the socket's
# permissions; the per-allocation metrics.
. "$(dirname "$0")/lib.sh"

SOCK="$T/run/control.sock"
mkdir -p "$T/run" "$T/state" "$T/out"
use_sim 2 "$SCN/steady.scn" intel
# One timeline for every agent this test starts: the simulated energy
# counter then runs on across a restart, as a real driver's does.
export GPUTEL_SIM_EPOCH=$(date +%s.%N)
PORT=$(free_port)

start_agent() {
	"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$SOCK" \
		--exporter-bind 127.0.0.1 --exporter-port "$PORT" --start-util 90 --stop-seconds 1 \
		--poll-interval 0.2 "$@" >>"$T/agent.log" 2>&1 &
	AG=$!
	PIDS+=("$AG")
	control_ready "$SOCK"
}
# req METHOD PATH [BODY]: the body, then the status code on its own line.
req() {
	if [ $# -ge 3 ]; then
		curl -s --unix-socket "$SOCK" -X "$1" -H 'Content-Type: application/json' --data-binary "$3" -w '\n%{http_code}' "http://x$2"
	else
		curl -s --unix-socket "$SOCK" -X "$1" -w '\n%{http_code}' "http://x$2"
	fi
}
code() { tail -n1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
json() { python3 -c "import json, sys; d = json.loads(sys.argv[1]); print($2)" "$(body "$1")"; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" 'index($0, m) == 1 { print $NF }'; }

check "the agent serves the control socket" start_agent
check "the socket is mode 0660" test "$(stat -c %a "$SOCK")" = 660
curl -s -N --unix-socket "$SOCK" http://x/v1/events >"$T/events" &
EVPID=$!
PIDS+=("$EVPID")
sleep 0.3

r=$(req POST /v1/allocations '{"id": "job-1", "gpus": [1], "owner": "slurm", "pid": '$$', "labels": {"team": "ml"}}')
check "POST /v1/allocations: 201" test "$(code "$r")" = 201
check "the reply names the GPU by index and UUID" test "$(json "$r" 'd["gpus"][0]["index"], d["gpus"][0]["uuid"][:4]')" = "1 GPU-"
check "the state file holds it before the reply" grep -q '"job-1"' "$T/state/allocations.json"
sleep 0.6
check "an allocation turns telemetry on though utilisation is below start-util" test "$(metric 'gputel_telemetry_active ')" = 1
check "gputel_allocations is 1" test "$(metric 'gputel_allocations ')" = 1
check "the allocation's GPU energy is a series" bash -c "curl -s http://127.0.0.1:$PORT/metrics | grep -q '^gputel_allocation_gpu_energy_joules_total{allocation=\"job-1\",gpu=\"1\",uuid=\"GPU-'"
check "promtool finds nothing with an allocation live" bash -c "curl -s http://127.0.0.1:$PORT/metrics | promtool check metrics >'$T/lint' 2>&1 && [ ! -s '$T/lint' ]"

# Bad requests: a 4xx naming the problem, and nothing changes.
bad() { # description body want_code want_text
	local r
	r=$(req POST /v1/allocations "$2")
	check "$1: $3" bash -c "[ '$(code "$r")' = '$3' ] && grep -q -- '$4' <<<'$(body "$r" | tr "'" _)'"
}
bad "bad JSON" '{"id": ' 400 'not valid JSON'
bad "unknown GPU" '{"id": "j2", "gpus": [7]}' 400 'is not a GPU on this node'
bad "duplicate id" '{"id": "job-1"}' 409 'already allocated'
bad "unknown field" '{"id": "j2", "gpu": [0]}' 400 'unknown field'
bad "bad id" '{"id": "a/b"}' 400 "is not allowed"
big=$(python3 -c 'print("{\"id\": \"x\", \"owner\": \"" + "a" * 70000 + "\"}")')
r=$(curl -s --unix-socket "$SOCK" -X POST --data-binary "$big" -w '\n%{http_code}' http://x/v1/allocations)
check "an oversized body: 413" test "$(code "$r")" = 413
check "unknown id: 404" test "$(code "$(req GET /v1/allocations/nope)")" = 404
check "DELETE of an unknown id: 404" test "$(code "$(req DELETE /v1/allocations/nope)")" = 404
check "an unknown path: 404" test "$(code "$(req GET /v2/x)")" = 404
check "PATCH: 405" test "$(code "$(req PATCH /v1/allocations)")" = 405
r=$(req GET /v1/allocations)
check "after all that, one allocation" test "$(json "$r" 'len(d["allocations"])')" = 1

r=$(req PUT /v1/allocations/job-1/renew)
check "renew without a TTL: 409" test "$(code "$r")" = 409
r=$(req PUT /v1/allocations/job-1/renew '{"ttl_seconds": 600}')
check "renew with ttl_seconds: 200 and an expiry" bash -c "[ '$(code "$r")' = 200 ] && [ '$(json "$r" 'd["expires"] is not None')' = True ]"
r=$(req GET /v1/status)
check "/v1/status: the agent and 1 allocation" test "$(json "$r" 'd["allocations"], d["backend"], d["telemetry_active"]')" = "1 nvml True"

sleep 1
r=$(req DELETE /v1/allocations/job-1)
check "DELETE: 200 with the summary" test "$(code "$r")" = 200
check "the summary has GPU energy and the host's CPU energy" \
	test "$(json "$r" 'd["gpu_energy_joules"] > 0, d["end_reason"], d["host_energy_scope"]')" = "True released whole host"
check "the ledger has one line for it" test "$(grep -c '"id": "job-1"' "$T/out/allocations.jsonl")" = 1
sleep 1.6
check "after the last allocation, telemetry goes off (utilisation is low)" test "$(metric 'gputel_telemetry_active ')" = 0
check "no stale allocation series" bash -c "! curl -s http://127.0.0.1:$PORT/metrics | grep -q '^gputel_allocation_'"
kill "$EVPID"
check "events: begun, activity started, ended, activity stopped, in order" python3 - "$T/events" <<'PY'
import json, sys
ev = [json.loads(l)["event"] for l in open(sys.argv[1]) if l.strip()]
want = ["allocation_begun", "activity_started", "allocation_ended", "activity_stopped"]
assert [e for e in ev if e in want] == want, ev
PY

# 100 clients at once, each beginning and ending its own allocation.
check "100 concurrent clients: every begin 201, every end 200" python3 - "$SOCK" <<'PY'
import http.client, socket, sys, threading
path = sys.argv[1]
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
bad = []
def run(i):
    try:
        c = Conn("x", timeout=20)
        c.request("POST", "/v1/allocations", '{"id": "c%d", "gpus": [%d]}' % (i, i % 2))
        r = c.getresponse(); r.read()
        if r.status != 201: bad.append(("begin", i, r.status)); return
        c.request("DELETE", "/v1/allocations/c%d" % i)
        r = c.getresponse(); r.read()
        if r.status != 200: bad.append(("end", i, r.status))
    except Exception as e:
        bad.append((i, repr(e)))
ts = [threading.Thread(target=run, args=(i,)) for i in range(100)]
[t.start() for t in ts]
[t.join() for t in ts]
assert not bad, bad[:5]
PY
check "... and leave no allocation and a ledger line each" bash -c "[ \$(grep -c '\"id\": \"c[0-9]*\"' '$T/out/allocations.jsonl') = 100 ] && [ \"\$(curl -s --unix-socket '$SOCK' http://x/v1/allocations)\" = '{\"allocations\": []}' ]"

# kill -9 mid-allocation: after a restart it is there, and its energy grew.
r=$(req POST /v1/allocations '{"id": "survivor", "gpus": [0]}')
sleep 1.2
e1=$(json "$(req GET /v1/allocations/survivor)" 'd["gpu_energy_joules"]')
kill -9 "$AG"
wait "$AG" 2>/dev/null
check "after kill -9 the socket file is stale, and a new agent takes it" start_agent
r=$(req GET /v1/allocations/survivor)
check "the allocation is restored" test "$(code "$r")" = 200
sleep 1
e2=$(json "$(req GET /v1/allocations/survivor)" 'd["gpu_energy_joules"]')
check "its accounting went on (energy $e1 J -> $e2 J)" python3 -c "import sys; sys.exit(not float('$e2') > float('$e1') + 100)"
check "no duplicate: one allocation" test "$(json "$(req GET /v1/allocations)" 'len(d["allocations"])')" = 1
req DELETE /v1/allocations/survivor >/dev/null

# Reaping: an owner pid that exits, and a TTL that lapses.
sleep 30 &
OWNER=$!
req POST /v1/allocations '{"id": "by-pid", "pid": '$OWNER'}' >/dev/null
req POST /v1/allocations '{"id": "by-ttl", "ttl_seconds": 0.5}' >/dev/null
kill "$OWNER"
wait "$OWNER" 2>/dev/null
sleep 1.2
check "both are reaped" test "$(json "$(req GET /v1/allocations)" 'len(d["allocations"])')" = 0
check "the ledger says why" bash -c "grep '\"by-pid\"' '$T/out/allocations.jsonl' | grep -q 'owner exited' && grep '\"by-ttl\"' '$T/out/allocations.jsonl' | grep -q 'ttl expired'"
check "reaping is logged" grep -q 'alloc: by-ttl ended (ttl expired)' "$T/agent.log"

# A process outside the socket's group cannot connect.
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
	setpriv --reuid=nobody --regid=nogroup --clear-groups curl -s --unix-socket "$SOCK" http://x/v1/status >/dev/null 2>&1
	check "a user outside the group is refused (curl exit $?)" test $? -ne 0
else
	setpriv_missing=1
	ok "# SKIP the permission test needs root and setpriv"
fi

# A second agent on the same socket: exit 2 naming it.
"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$SOCK" \
	--exporter-bind 127.0.0.1 --exporter-port "$(free_port)" >/dev/null 2>"$T/err2"
check "a second agent on the socket exits 2 naming it" bash -c "[ $? -eq 2 ] && grep -q 'another agent serves' '$T/err2'"
"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/nope" --control-socket "$T/run/b.sock" >/dev/null 2>"$T/err3"
check "a missing state dir exits 2 naming the fix" bash -c "[ $? -eq 2 ] && grep -q 'state-dir $T/nope is missing' '$T/err3'"

req POST /v1/allocations '{"id": "kept"}' >/dev/null
kill -TERM "$AG"
wait "$AG"
check "SIGTERM: exit 0 and the socket file removed" bash -c "[ $? -eq 0 ] && [ ! -e '$SOCK' ]"
check "a live allocation is saved at the stop" grep -q '"kept"' "$T/state/allocations.json"

# With the control socket off, saved allocations are left alone: nothing
# could end them, so they must not hold telemetry on.
P2=$(free_port)
"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket '' \
	--exporter-bind 127.0.0.1 --exporter-port "$P2" --start-util 90 --poll-interval 0.2 --duration 1.5 >/dev/null 2>&1 &
A2=$!
PIDS+=("$A2")
sleep 1
m2=$(curl -s "http://127.0.0.1:$P2/metrics")
check "without the socket: telemetry off and no allocation series" \
	bash -c "grep -qx 'gputel_telemetry_active 0' <<<\"\$1\" && ! grep -q '^gputel_allocation' <<<\"\$1\"" _ "$m2"
wait "$A2"
check "... and the saved allocation is still there for the next agent with a socket" grep -q '"kept"' "$T/state/allocations.json"

# A begin sent as soon as the socket exists, before the first tick (a slow
# driver: 20 ms a call), waits for a sample instead of failing.
cat >"$T/slow.scn" <<'SCN'
gpus 2
at 0 all util=3 latency_ms=20
SCN
use_sim 2 "$T/slow.scn" intel
rm -f "$T/state/allocations.json"
"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$T/run/c.sock" \
	--exporter-bind 127.0.0.1 --exporter-port "$(free_port)" --start-util 90 --duration 6 >"$T/early.log" 2>&1 &
A3=$!
PIDS+=("$A3")
for ((i = 0; i < 200; i++)); do [ -S "$T/run/c.sock" ] && break; sleep 0.01; done
early=$(curl -s --unix-socket "$T/run/c.sock" -X POST --data-binary '{"id": "early", "gpus": [0]}' -w '\n%{http_code}' http://x/v1/allocations)
check "a begin before the first tick waits for a sample and answers 201 (got $(tail -n1 <<<"$early"))" test "$(tail -n1 <<<"$early")" = 201
check "... measured on the GPU it names" test "$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["gpus"][0]["uuid"][:4])' "$(sed '$d' <<<"$early")")" = GPU-
wait "$A3"
finish
